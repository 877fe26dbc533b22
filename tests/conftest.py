import os

# Tests never touch the network: the hub is offline, caches are per-test.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A preset's model.threads (tiny: 1) is applied process-wide by the CLI and the stages;
    restore the count so that it does not leak into later tests."""
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
