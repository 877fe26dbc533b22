"""The tiny preset (tests, `make smoke`): settings inherited from smol must fit the tiny model."""
import argparse

import torch

from realignbench.cli_args import config_from_args
from realignbench.config import load_config
from realignbench.models.tiny import MODEL_CONFIG


def test_tiny_lora_layers_fit_the_tiny_model():
    # smol's lora_layers (8 of 30) once leaked into tiny (4 layers) and failed every training run
    cfg = load_config("tiny")
    assert 0 <= cfg.train.lora_layers <= MODEL_CONFIG["num_hidden_layers"]


def test_cli_config_applies_the_preset_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        args = argparse.Namespace(preset="tiny", overrides=[], runs_dir=None)
        cfg = config_from_args(args)
        assert cfg.model.threads == 1 and torch.get_num_threads() == 1
        config_from_args(argparse.Namespace(preset="tiny", overrides=["model.threads=0"],
                                            runs_dir=None))
        assert torch.get_num_threads() == 1          # 0 = leave torch's setting alone
    finally:
        torch.set_num_threads(before)
