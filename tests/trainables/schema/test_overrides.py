"""Trial config resolution: the searcher's overrides, dotted or top-level, reach the config a worker runs."""
from trainables.schema.config import RunConfig
from trainables.generation import GenerationConfig
from trainables.schema.overrides import resolve_trial


def test_dotted_and_top_level_overrides_and_the_seed_offset_are_applied():
    base = RunConfig().model_dump(mode="json")
    trial = {"run": base, "study": {"name": "s"}, "__seed_index__": 2, "der.weight": 0.5, "epochs": 3, "batch_size": 64}
    cfg = resolve_trial(RunConfig, base, trial, trial["__seed_index__"])
    assert (cfg.der.weight, cfg.epochs, cfg.batch_size) == (0.5, 3, 64)
    assert cfg.seed == RunConfig().seed + 2
    assert cfg.model_dump(exclude={"der", "epochs", "batch_size", "seed"}) == \
        RunConfig().model_dump(exclude={"der", "epochs", "batch_size", "seed"})


def test_generation_configs_resolve_the_same_way():
    base = GenerationConfig().model_dump(mode="json")
    cfg = resolve_trial(GenerationConfig, base, {"generation": {}, "init.sigma": 0.02, "n": 40})
    assert (cfg.init.sigma, cfg.n, cfg.seed) == (0.02, 40, GenerationConfig().seed)
