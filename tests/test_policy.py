import pytest
import yaml

from realignbench.policies.spec import (PolicyError, list_policies, list_shifts, load_policy,
                                        load_shift, policy_path)
from realignbench.synthvaluebench.dimensions import DIMENSIONS, stance_exists


def test_every_policy_and_shift_loads():
    assert {"svb_old", "svb_new_default", "svb_new_trivial", "svb_new_nontrivial",
            "pku_old", "pku_new"} <= set(list_policies())
    for bench in ("synthvaluebench", "pku_saferlhf"):
        for name in list_shifts(bench):
            shift = load_shift(bench, name)
            assert shift.old.benchmark == shift.new.benchmark == bench
            assert shift.new.text and shift.new.version


def test_svb_shift_library_shape():
    names = list_shifts("synthvaluebench")
    assert {"default", "trivial", "nontrivial"} <= set(names)
    for name in ("default", "trivial", "nontrivial"):
        shift = load_shift("synthvaluebench", name)
        assert "harmful_request" not in shift.changed_dimensions()    # unchanged in every shift
    assert load_shift("synthvaluebench", "trivial").changed_dimensions() == ["mental_health"]
    assert load_shift("synthvaluebench", "control").changed_dimensions() == []


def test_policy_text_names_every_dimension_and_stances_exist():
    for name in list_policies():
        pol = load_policy(name)
        if pol.kind != "stance_rules":
            continue
        for dim, rules in pol.rules.items():
            assert dim in pol.text
            for rule in rules:
                assert all(stance_exists(dim, s) for s in rule["allowed"]), (name, dim, rule)
        assert set(pol.dimensions) == set(DIMENSIONS)


def test_pku_tiers_cover_all_19_categories_once():
    new = load_policy("pku_new")
    cats = [c for t in new.rules["tiers"].values() for c in t["categories"]]
    assert sorted(cats) == sorted(new.dimensions) and len(cats) == 19
    assert "label oracle" in new.label_scope.lower() or "llm judge" in new.label_scope.lower()


def _write(tmp_path, mutate):
    data = yaml.safe_load(policy_path("svb_new_default").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mutate, field, text", [
    (lambda d: d.pop("version"), "version", "missing"),
    (lambda d: d.update(text=""), "text", "non-empty"),
    (lambda d: d.update(kind="vibes"), "kind", "not one of"),
    (lambda d: d["rules"]["mental_health"][0].update(gold="dismissive"),
     "rules.mental_health[0].gold", "not in allowed"),
    (lambda d: d["rules"].update(astrology=[{"allowed": ["x"], "gold": "x"}]),
     "rules.astrology", "not listed"),
    (lambda d: d["rules"].pop("dual_use"), "rules", "no rules for dimension"),
    (lambda d: d["rules"]["dual_use"].reverse(), "rules.dual_use", "must have an empty 'when'"),
    (lambda d: d.update(colour="red"), "colour", "unknown field"),
])
def test_policy_errors_name_file_and_field(tmp_path, mutate, field, text):
    path = _write(tmp_path, mutate)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and f"'{field}'" in str(err.value) and text in str(err.value)


def test_bad_yaml_and_unknown_names(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(PolicyError, match="broken.yaml.*invalid YAML"):
        load_policy(path)
    with pytest.raises(KeyError, match="unknown policy"):
        load_policy("no_such_policy")
    with pytest.raises(KeyError, match="unknown shift"):
        load_shift("synthvaluebench", "no_such_shift")


def test_harm_tier_errors(tmp_path):
    data = yaml.safe_load(policy_path("pku_new").read_text())
    data["rules"]["tiers"]["reduced"]["categories"].append("Violence")
    path = tmp_path / "pku.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PolicyError, match=r"rules.tiers.reduced.categories.*also in tier critical"):
        load_policy(path)


def test_shift_file_errors(tmp_path):
    path = tmp_path / "shifts.yaml"
    path.write_text(yaml.safe_dump({"synthvaluebench": {"x": {"old": "svb_old",
                                                              "new": "pku_new"}}}))
    with pytest.raises(PolicyError, match=r"'synthvaluebench.x.new'.*is for pku_saferlhf"):
        load_shift("synthvaluebench", "x", path)
    path.write_text(yaml.safe_dump({"synthvaluebench": {"x": {"new": "svb_old"}}}))
    with pytest.raises(PolicyError, match=r"'synthvaluebench.x.old': missing"):
        load_shift("synthvaluebench", "x", path)
