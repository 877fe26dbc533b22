import pytest

from realignbench.config import ConfigError, dump_yaml, load_config


def test_presets_resolve_with_inheritance():
    tiny = load_config("tiny")
    assert tiny.model.preset == "tiny" and tiny.preset == "tiny"
    assert tiny.train.beta == load_config("smol").train.beta      # inherited from smol
    assert load_config("llama-3.1-8b").train.lora_r == 32         # paper -> llama


def test_overrides_are_typed():
    cfg = load_config("tiny", ["train.lr=3e-4", "data.train_sizes=[8, 16]", "data.n_train_pool=16"])
    assert cfg.train.lr == pytest.approx(3e-4) and cfg.data.train_sizes == [8, 16]


@pytest.mark.parametrize("override, message", [
    ("train.bogus=1", "unknown key(s) ['bogus']"),
    ("train.global_batch_size=many", "config.train.global_batch_size: expected an integer"),
    ("train.lora=maybe", "expected true/false"),
    ("data.train_sizes=[400, 100]", "ascending"),
    ("model.dtype=fp8", "model.dtype"),
    ("train.global_batch_size=6", "multiple of train.micro_batch_size"),
    ("nonsense", "key.sub=value"),
])
def test_bad_config_names_the_key(override, message):
    with pytest.raises(ConfigError, match=None) as err:
        load_config("tiny", [override])
    assert message in str(err.value)


def test_resolved_dump_round_trips():
    import yaml
    cfg = load_config("tiny")
    assert yaml.safe_load(dump_yaml(cfg))["model"]["preset"] == "tiny"
