"""Equal compute against the peers: the reading of a search, the sign test, a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import peers
from benchmarks._peers import METHODS, configspace
from tuner.search.optimizers import PAIR
from tuner.search.space import default_space

#: A candidate as --candidates takes it: the exploring composition, one ask in 2 at random.
EXPLORING = "ExploringDualRecombiningDiscreteLognormalOnePlusOne:patience=1,every=2"

pytest.importorskip("optuna")
pytest.importorskip("smac")


def test_the_best_at_a_budget_counts_only_full_trials_finished_by_then() -> None:
    # (epochs spent so far, seconds so far, fitness of a full trial or None when pruned)
    events = [(4, 10.0, 0.30), (5, 12.0, None), (9, 20.0, 0.50), (10, 21.0, None)]
    assert peers.best_at(events, 4) == 0.30
    assert peers.best_at(events, 8) == 0.30  # the 0.50 trial had not finished at 8 epochs
    assert peers.best_at(events, 9) == 0.50
    assert peers.best_at(events, 3) == float("-inf")
    assert peers.best_at(events, 15.0, index=1) == 0.30  # by seconds
    assert peers.spent(events) == (10, 21.0)
    assert peers.seconds_at(events, 5) == 12.0 and peers.seconds_at(events, 7) == 20.0


def test_the_sign_test_is_two_sided_and_drops_ties() -> None:
    assert peers.sign_test(0, 6) == pytest.approx(2 / 64)
    assert peers.sign_test(6, 0) == peers.sign_test(0, 6)
    assert peers.sign_test(3, 3) == 1.0
    assert peers.sign_test(0, 0) == 1.0
    assert peers.sign_test(18, 6) == pytest.approx(0.0227, abs=1e-4)  # 24 seeds: p < 0.05


def test_compare_pairs_each_seed_at_the_epochs_hyperseal_spent() -> None:
    def row(method: str, seed: int, events: list, trials: int = 0) -> dict:
        return {"problem": "p", "method": method, "seed": seed, "trials": trials, "events": events}

    rows = [
        row("hyperseal", 0, [(4, 1.0, 0.5), (6, 2.0, None)], trials=20),
        row("hyperseal", 1, [(4, 1.0, 0.2), (5, 2.0, None)], trials=20),
        # the peer finds 0.9 on seed 0, but only after 8 epochs: hyperseal spent 6
        row("TPE+SHA", 0, [(4, 1.0, 0.4), (8, 2.0, 0.9)]),
        row("TPE+SHA", 1, [(4, 1.0, 0.3), (8, 2.0, 0.1)]),
    ]
    found = peers.compare(rows, "p", 20, "TPE+SHA")
    assert found is not None
    assert (found["won"], found["lost"], found["seeds"]) == (1, 1, 2)
    assert found["epochs"] == 5.5
    assert peers.compare(rows, "p", 40, "TPE+SHA") is None


def test_any_method_can_be_the_reference_still_read_at_the_default_s_epochs() -> None:
    def row(method: str, seed: int, events: list, trials: int = 0) -> dict:
        return {"problem": "p", "method": method, "seed": seed, "trials": trials, "events": events}

    rows = [row("hyperseal", s, [(4, 1.0, 0.1), (6, 2.0, None)], trials=20) for s in range(3)]
    # the candidate beats TPE on seeds 0 and 1 at 6 epochs; TPE's 0.9 on seed 1 comes too late
    rows += [row("cand", s, [(4, 1.0, v)]) for s, v in enumerate([0.5, 0.5, 0.2])]
    rows += [row("TPE+SHA", s, [(4, 1.0, v), (8, 3.0, 0.9)]) for s, v in enumerate([0.3, 0.4, 0.3])]
    found = peers.compare(rows, "p", 20, "TPE+SHA", reference="cand")
    assert found is not None and found["reference"] == "cand"
    assert (found["won"], found["lost"]) == (1, 2)
    assert (found["won"], found["lost"]) != tuple(
        peers.compare(rows, "p", 20, "TPE+SHA")[k]
        for k in ("won", "lost")  # type: ignore[index]
    )
    summary = peers.summarise(rows, ["p"], [20], reference="cand")
    assert [s["method"] for s in summary] == ["hyperseal", "TPE+SHA", "cand"]
    assert peers.table_rows(summary)[2][5:8] == ["-", "-", "-"]  # the reference's own row


def test_per_seed_reads_every_method_at_the_default_s_epochs_and_the_gain_over_trial_0() -> None:
    def row(method: str, seed: int, events: list, trials: int = 0) -> dict:
        return {"problem": "p", "method": method, "seed": seed, "trials": trials, "events": events}

    rows = [
        row("hyperseal", 0, [(4, 1.0, 0.2), (5, 2.0, None), (9, 3.0, 0.5)], trials=20),
        row("hyperseal", 1, [(1, 1.0, None), (5, 2.0, 0.3)], trials=20),
        row("TPE+SHA", 0, [(4, 1.0, 0.4), (12, 2.0, 0.9)]),  # 0.9 came after hyperseal's 9
    ]
    found = peers.per_seed(rows, "p", 20)
    assert [s["seed"] for s in found] == [0, 1]
    assert found[0]["epochs"] == 9
    assert found[0]["best"] == {"hyperseal": 0.5, "TPE+SHA": 0.4}
    assert found[0]["gain"] == pytest.approx(0.3)
    assert found[1]["best"] == {"hyperseal": 0.3, "TPE+SHA": None}  # no run on seed 1
    assert found[1]["gain"] is None  # its trial 0 was stopped early
    text = peers.per_seed_table(found)
    assert text.splitlines()[0].split() == [
        "seed",
        "epochs",
        "hyperseal",
        "TPE+SHA",
        "gain",
        "over",
        "trial",
        "0",
    ]
    assert text.splitlines()[3].split() == ["1", "5", "0.3", "-", "-"]


def test_the_space_maps_onto_configspace_with_its_conditions() -> None:
    cs = configspace(default_space(4), seed=0)
    default = dict(cs.get_default_configuration())
    space = default_space(4)
    assert default == {p.name: p.default for p in space.searched}
    # momentum exists only for SGD, as in the tuner's space
    adamw = [c for c in cs.sample_configuration(40) if c["optimizer"] == "adamw"]
    assert adamw and all("momentum" not in dict(c) for c in adamw)


def test_a_quick_run_gives_every_method_the_same_epochs(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    argv = ["--quick", "--problems", "mlp", "--workers", "1", "--runs", str(log)]
    argv += ["--candidates", EXPLORING]
    out = peers.main([*argv, "--plot", str(tmp_path / "p.png"), "--json", str(tmp_path / "o.json")])
    summary = out["summary"]
    assert {s["method"] for s in summary} == {*METHODS, EXPLORING}
    assert {s["trials"] for s in summary} == {4, 8}
    for s in summary:
        assert s["seeds"] == 2
        assert s["won"] + s["lost"] <= 2 and 0 < s["p"] <= 1
    ours = {(r["seed"], r["trials"]): r for r in out["runs"] if r["method"] == "hyperseal"}
    for r in out["runs"]:
        if r["method"] != "hyperseal":  # every peer ran at least as long as hyperseal's 2x run
            assert peers.spent(r["events"])[0] >= peers.spent(ours[(r["seed"], 8)]["events"])[0]
    assert set(out["per_seed"]) == {"mlp 4", "mlp 8"}
    for seeds in out["per_seed"].values():
        assert [s["seed"] for s in seeds] == [0, 1]
        assert all(set(s["best"]) == {*METHODS, EXPLORING} for s in seeds)
    assert (tmp_path / "p.png").stat().st_size > 0
    assert json.loads((tmp_path / "o.json").read_text())["summary"] == json.loads(
        json.dumps(summary)
    )
    # a rerun with the same log trains nothing and gives the same table
    again = peers.main([*argv, "--plot", str(tmp_path / "q.png")])
    assert again["summary"] == summary
    assert len(log.read_text().splitlines()) == len(out["runs"])


@pytest.mark.parametrize(
    "option",
    # a candidate or a default the tuner cannot build; not a method run
    ["--candidates", "--reference", "--default-optimizer"],
)
def test_a_bad_candidate_or_reference_is_an_error_before_anything_runs(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        peers.main(["--quick", "--runs", str(tmp_path / "r.jsonl"), option, "NoSuchOne"])
    assert f"{option} NoSuchOne" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


def test_a_logged_run_is_reused_only_where_it_is_the_same_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = peers.PROBLEMS["mlp"]
    ours = peers.Job(problem, "hyperseal", 3, trials=20)
    theirs = peers.Job(problem, "TPE+SHA", 3, epochs=40)
    done = {
        ours.ident(): {"id": ours.ident(), "budget": 0, "events": []},
        theirs.ident(): {"id": theirs.ident(), "budget": 40, "events": []},
    }
    assert peers.reusable(done, ours) is done[ours.ident()]
    # a peer's search is the same whatever its budget: a longer run answers a shorter one
    assert peers.reusable(done, peers.Job(problem, "TPE+SHA", 3, epochs=30)) is done[theirs.ident()]
    assert peers.reusable(done, peers.Job(problem, "TPE+SHA", 3, epochs=50)) is None
    assert peers.reusable(done, peers.Job(problem, "TPE+SHA", 4, epochs=30)) is None
    assert peers.reusable(done, peers.Job(problem, "SMAC-MF", 3, epochs=30)) is None
    # the default's runs are its optimizer's: another default reruns them
    pair = peers.Job(problem, "hyperseal", 3, trials=20, optimizer=PAIR)
    assert peers.reusable(done, pair) is None
    monkeypatch.setattr(peers, "default_optimizer", lambda: "SomethingElse")
    assert peers.reusable(done, ours) is None


def test_hyperseal_can_run_another_optimizer_than_the_default(tmp_path: Path) -> None:
    # RandomSearch's asks do not depend on the budget: hyperseal's 4 and 8 trials with it are
    # the first trials of random+ASHA's search (same loop, same ASHA, same seed)
    argv = ["--quick", "--problems", "mlp", "--workers", "1", "--seeds", "1"]
    argv += ["--methods", "hyperseal", "random+ASHA", "--default-optimizer", "RandomSearch"]
    out = peers.main([*argv, "--runs", str(tmp_path / "r.jsonl"), "--plot", str(tmp_path / "p")])
    assert out["default_optimizer"] == "RandomSearch"
    runs = {(r["method"], r["trials"]): [(e[0], e[2]) for e in r["events"]] for r in out["runs"]}
    random = runs[("random+ASHA", 0)]
    for trials in (4, 8):
        assert len(runs[("hyperseal", trials)]) == trials
        assert runs[("hyperseal", trials)] == random[:trials]


def test_the_curves_take_the_seeds_every_method_ran() -> None:
    def row(method: str, seed: int, trials: int = 0) -> dict:
        return {"problem": "p", "method": method, "seed": seed, "trials": trials, "events": []}

    rows = [row("hyperseal", s, t) for s in range(4) for t in (20, 40)]
    rows += [row("TPE+SHA", s) for s in range(3)] + [row("cand", s) for s in (0, 1, 3)]
    searches, paired = peers.plotted(rows, "p", 20)
    assert paired == {0, 1}
    assert set(searches) == {"hyperseal", "TPE+SHA", "cand"}
    assert all(r["trials"] == 40 for r in searches["hyperseal"].values())


def test_the_legend_names_the_optimizer_hyperseal_ran_when_not_the_default() -> None:
    methods = ["hyperseal", "TPE+SHA", "Cand:patience=3,every=0"]
    plain = peers.legend_names(methods)
    assert plain == {
        "hyperseal": "hyperseal",
        "TPE+SHA": "TPE+SHA",
        methods[2]: "Cand\n  patience=3,every=0",
    }
    assert peers.legend_names(methods, peers.default_optimizer()) == plain
    other = peers.legend_names(methods, "RandomSearch")
    assert other["hyperseal"] == "hyperseal with\n  RandomSearch"
    assert {m: other[m] for m in methods[1:]} == {m: plain[m] for m in methods[1:]}
