"""Model placement: one function, whole models, no device_map, memory given back."""
import pytest
import torch

from realignbench.models import placement
from realignbench.models.loading import load_model
from realignbench.models.placement import PlacementError, place, process_device, release_memory


def test_place_for_eval_switches_to_eval_mode_and_for_train_keeps_the_mode():
    model, _ = load_model("tiny")
    model.train()
    assert place(model, "train", "cpu").training
    assert not place(model, "eval", "cpu").training
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    with pytest.raises(ValueError, match="purpose 'serve'"):
        place(model, "serve")


def test_a_model_split_by_a_device_map_is_refused_for_both_purposes():
    model, _ = load_model("tiny")
    model.hf_device_map = {"model.embed_tokens": 0, "model.layers.0": 1, "lm_head": 1}
    for purpose in ("train", "eval"):
        with pytest.raises(PlacementError, match=r"split over \['0', '1'\]"):
            place(model, purpose)
    model.hf_device_map = {"": "cpu"}                   # one device: nothing to break
    assert place(model, "eval", "cpu") is model


def test_process_device_follows_local_rank_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert process_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert process_device() == torch.device("cuda", 3)
    monkeypatch.delenv("LOCAL_RANK")
    assert process_device() == torch.device("cuda", 0)


def test_release_memory_empties_the_cuda_cache_only_with_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(1))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    release_memory()
    assert calls == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    release_memory()
    assert calls == [1]


def test_hub_models_load_without_device_map_even_with_cuda(monkeypatch):
    """No device_map="auto" anywhere a model is loaded: placement moves it whole."""
    import transformers
    from realignbench.models import loading
    from realignbench.model_presets import get_preset
    seen = {}

    def fake_from_pretrained(hub_id, **kwargs):
        seen.update(kwargs, hub_id=hub_id)
        return "model"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        fake_from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: "tok")
    loading._load_hub(get_preset("llama-3.1-8b"), "bf16", "sdpa")
    assert seen["hub_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert "device_map" not in seen


def test_load_model_places_through_the_one_function(monkeypatch):
    placed = []
    real = placement.place
    monkeypatch.setattr(placement, "place",
                        lambda m, purpose, device=None: placed.append((purpose, device))
                        or real(m, purpose, "cpu"))
    model, _ = load_model("tiny", purpose="eval")
    assert placed == [("eval", None)] and not model.training
    load_model("tiny")                                   # no purpose: not placed
    assert len(placed) == 1


@pytest.mark.gpu
def test_tiny_is_placed_on_cuda_for_eval_and_train():
    model, _ = load_model("tiny", dtype="bf16", purpose="eval")
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    model, _ = load_model("tiny", dtype="bf16", purpose="train", device="cuda:0")
    assert {str(p.device) for p in model.parameters()} == {"cuda:0"}
    del model
    release_memory()
