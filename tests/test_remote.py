"""Remote runs roots against a real S3 API on loopback (tests/s3fixtures.py): the listing, the
mirror's few requests, rewritten logs, bad objects, pruning with its re-checks, read-only, and
one clear line for each way a store can refuse."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from s3fixtures import SECRET_KEY, Bucket, start_auth_s3

from runlog.cli import main
from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun
from runlog.provider import RunProvider
from runlog.prune import apply_prune, plan_prune_tree
from runlog.remote.mirror import OVERLAP, SyncReport, key_to_parts
from runlog.remote.roots import RemoteRoot, forget_remotes, open_remote
from runlog.remote.store import RemoteError
from runlog.remote.urls import (
    RemoteURL,
    StorageOptionError,
    parse_storage_options,
    parse_url,
    redact,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RUNS = REPO / "sample_runs"
RUN = "cartpole/v1/20260322_120000"
LOG_KEY = f"runs/{RUN}/train_episodes.jsonl"


def make_tree(root: Path, runs: int = 2, episodes: int = 120) -> list[str]:
    """`runs` small runs with logs, evals, config and checkpoints; returns their rel names."""
    rels = []
    for i in range(runs):
        run = TrainingRun.create("cartpole", "v1", root, run_id=f"20260322_12000{i}")
        run.write_config({"lr": 0.001 * (i + 1), "seed": i})
        steps = 0
        for e in range(episodes):
            steps += 20 + e % 7
            run.log_train_episode(EpisodeRecord(float(e % 50 + i), 20 + e % 7, "Terminated"))
            if e % 40 == 39:
                for k in range(3):
                    run.log_eval_episode(EpisodeRecord(100.0 + e + k, 100, "Truncated"), steps)
                (run.dir / "checkpoints" / f"step_{steps}.mpk").write_bytes(bytes([e % 251]) * 96)
                (run.dir / "checkpoints" / "latest.mpk").write_bytes(b"L" * 96)
                (run.dir / "checkpoints" / "best.mpk").write_bytes(b"B" * 96)
        run.update_metadata(steps, episodes)
        rels.append(f"cartpole/v1/{run.dir.name}")
    return rels


def uploaded(s3: Bucket, tmp_path: Path, runs: int = 2) -> Path:
    local = tmp_path / "local"
    make_tree(local, runs)
    s3.put_tree(local, "runs")
    return local


def ls_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    code = main(["ls", "--json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    records: list[dict[str, object]] = json.loads(out.out)
    return records


def comparable(record: dict[str, object]) -> dict[str, object]:
    """A listing record without what differs between a copy and its original (where it is, and
    the last write when it comes from file times)."""
    return {k: v for k, v in record.items() if k not in ("path", "last_write")}


def open_root(s3: Bucket, prefix: str = "runs") -> RemoteRoot:
    url = parse_url(s3.url(prefix))
    assert isinstance(url, RemoteURL)
    return open_remote(url, cache=Path(os.environ["RUNLOG_CACHE_DIR"]))


def reopen(s3: Bucket) -> RemoteRoot:
    """The root as a restarted process sees it: a new store and mirror on the same cache."""
    forget_remotes()
    return open_root(s3)


# -- URLs and options (pure) -------------------------------------------------------------------


def test_parse_url_cases() -> None:
    assert parse_url("s3://bucket/runs/") == RemoteURL("s3", "bucket", "runs")
    assert parse_url("S3://bucket") == RemoteURL("s3", "bucket", "")
    assert parse_url("gs://b/a//b") == RemoteURL("gs", "b", "a/b")
    assert str(parse_url("s3://bucket/runs/x")) == "s3://bucket/runs/x"
    assert parse_url("file:///data/runs") == "/data/runs"
    assert parse_url("runs/local") == "runs/local"
    with pytest.raises(Exception, match="no bucket"):
        parse_url("s3:///runs")
    with pytest.raises(Exception, match=r"'\.\.'"):
        parse_url("s3://bucket/runs/../other")


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(Exception) as info:
        parse_url("s3://AKIAXYZ:topsecretvalue@bucket/runs")
    assert "credentials in the URL" in str(info.value)
    assert "topsecretvalue" not in str(info.value) and "AKIAXYZ" not in str(info.value)


def test_storage_options_are_typed_and_a_bad_one_is_named_without_its_value() -> None:
    assert parse_storage_options(["anon=true", "max_concurrency=4", "profile=dev"]) == {
        "anon": True,
        "max_concurrency": 4,
        "profile": "dev",
    }
    with pytest.raises(StorageOptionError, match="'anon'"):
        parse_storage_options(["anon"])


@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4),
    st.text(max_size=60),
)
def test_redact_leaves_no_secret_in_the_text(secrets: list[str], text: str) -> None:
    mixed = text + "".join(f" {s} " for s in secrets)
    shown = redact(mixed, secrets)
    # Every secret is gone unless it appears only as a piece of the *** the others left.
    for secret in secrets:
        assert secret not in shown or secret in "***"


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "x\x00", "ok.json", "/"]), max_size=6))
def test_keys_map_inside_the_tree_or_not_at_all(segments: list[str]) -> None:
    rel = "/".join(segments)
    parts = key_to_parts(rel)
    if parts is None:
        return
    root = Path("/tree/root")
    target = Path(os.path.normpath(root.joinpath(*parts)))
    assert target.is_relative_to(root) and target != root
    assert "/".join(parts) == rel


# -- listing and the mirror's requests ----------------------------------------------------------


def test_the_listing_equals_the_local_listing_of_the_same_tree(
    s3: Bucket, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put_tree(SAMPLE_RUNS, "runs")
    remote = ls_json(capsys, s3.url())
    local = ls_json(capsys, str(SAMPLE_RUNS))
    assert len(remote) == len(local) > 10
    assert [comparable(r) for r in remote] == [comparable(r) for r in local]
    assert all(str(r["path"]).startswith(s3.url() + "/") for r in remote)


def test_restart_lists_only_and_an_idle_poll_is_one_listing(s3: Bucket, tmp_path: Path) -> None:
    uploaded(s3, tmp_path)
    first = open_root(s3)
    assert first.last is not None
    # Logs, metadata and configs are fetched; checkpoints are placeholders (never downloaded).
    assert first.store.requests["ListObjectsV2"] == 1
    assert first.store.requests["GetObject"] == first.last.whole_gets == 2 * 4
    assert first.last.placeholders == 2 * 5
    second = reopen(s3)
    assert dict(second.store.requests) == {"ListObjectsV2": 1}
    second.store.requests.clear()
    report = second.sync()
    assert report is not None and not report.changed
    assert dict(second.store.requests) == {"ListObjectsV2": 1}


def test_checkpoints_are_sparse_placeholders_of_the_right_size(s3: Bucket, tmp_path: Path) -> None:
    local = uploaded(s3, tmp_path, runs=1)
    root = open_root(s3)
    run_id = next((local / "cartpole" / "v1").iterdir()).name
    for path in (local / "cartpole" / "v1" / run_id / "checkpoints").iterdir():
        copy = root.local_root / "cartpole" / "v1" / run_id / "checkpoints" / path.name
        assert copy.stat().st_size == path.stat().st_size == 96
        assert copy.read_bytes() == b"\0" * 96  # the bytes were never fetched


def test_a_log_rewritten_with_more_lines_is_tailed_by_one_ranged_get(
    s3: Bucket, tmp_path: Path
) -> None:
    uploaded(s3, tmp_path)
    root = open_root(s3)
    provider = RunProvider(root.local_root, watch=False, background=False)
    provider.refresh()
    before = provider.run(RUN)
    assert before is not None and before.train_episodes == 120
    old = s3.get(LOG_KEY)
    extra = b"".join(
        json.dumps(
            {"total_reward": 7.0, "length": 30, "status": "Terminated", "extras": {}}
        ).encode()
        + b"\n"
        for _ in range(5)
    )
    s3.put(LOG_KEY, old + extra)  # a sync tool uploads the grown file as a new object
    root.store.requests.clear()
    report = root.sync()
    assert report is not None
    assert (report.ranged_gets, report.whole_gets) == (1, 0)
    assert dict(root.store.requests) == {"ListObjectsV2": 1, "GetObject ranged": 1}
    assert report.bytes_fetched == min(OVERLAP, len(old)) + len(extra)
    assert (root.local_root / RUN / "train_episodes.jsonl").read_bytes() == old + extra
    provider.refresh()
    after = provider.run(RUN)
    assert after is not None and after.train_episodes == 125


@pytest.mark.parametrize("change", ["shorter", "same size", "old bytes changed"])
def test_a_rewrite_that_is_not_an_append_is_read_again_whole(
    s3: Bucket, tmp_path: Path, change: str
) -> None:
    uploaded(s3, tmp_path)
    root = open_root(s3)
    provider = RunProvider(root.local_root, watch=False, background=False)
    provider.refresh()
    old = s3.get(LOG_KEY)
    lines = old.splitlines(keepends=True)
    if change == "shorter":
        new = b"".join(lines[:50])
    elif change == "same size":
        new = old.replace(b'"total_reward":1.0', b'"total_reward":2.0', 1)
        assert len(new) == len(old) and new != old
    else:  # longer, but a line near the end of the old bytes differs
        new = old.replace(lines[-1], lines[-1].replace(b'"length":', b'"length": ')) + lines[0]
    s3.put(LOG_KEY, new)
    report = root.sync()
    assert report is not None and report.whole_gets == 1
    assert (root.local_root / RUN / "train_episodes.jsonl").read_bytes() == new
    provider.refresh()
    summary = provider.run(RUN)
    assert summary is not None
    assert summary.train_episodes == len(new.splitlines())


def test_objects_gone_from_the_bucket_leave_the_mirror(s3: Bucket, tmp_path: Path) -> None:
    rels = [f"cartpole/v1/{p.name}" for p in (uploaded(s3, tmp_path) / "cartpole/v1").iterdir()]
    root = open_root(s3)
    gone = sorted(rels)[0]
    for key in s3.keys(f"runs/{gone}"):
        s3.rm(key)
    report = root.sync()
    assert report is not None and report.removed > 0
    assert not (root.local_root / gone).exists()
    provider = RunProvider(root.local_root, watch=False, background=False)
    provider.refresh()
    assert [s.rel for s in provider.runs()] == sorted(rels)[1:]


def test_a_half_uploaded_metadata_json_is_reported_and_then_read(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path)
    good = s3.get(f"runs/{RUN}/metadata.json")
    s3.put(f"runs/{RUN}/metadata.json", good[: len(good) // 2])
    records = {str(r["rel"]): r for r in ls_json(capsys, s3.url())}
    assert len(records) == 2
    problem = str(records[RUN]["problem"])
    assert problem == "metadata.json is being written (half-written); retrying"
    other = next(r for rel, r in records.items() if rel != RUN)
    assert other["problem"] is None and records[RUN]["train_episodes"] == 120
    # The next upload completes it: the next listing fetches it and the problem is gone.
    s3.put(f"runs/{RUN}/metadata.json", good)
    records = {str(r["rel"]): r for r in ls_json(capsys, s3.url())}
    assert records[RUN]["problem"] is None


def test_keys_that_cannot_be_files_are_skipped_and_named(s3: Bucket, tmp_path: Path) -> None:
    uploaded(s3, tmp_path, runs=1)
    s3.put("runs/cartpole/v1//evil.json", b"{}")
    s3.put("runs/cartpole/clash", b"x")
    s3.put("runs/cartpole/clash/inner.json", b"{}")
    root = open_root(s3)
    assert root.last is not None
    skipped = "\n".join(root.last.skipped)
    assert "runs/cartpole/v1//evil.json: not a name a file can have here" in skipped
    assert "runs/cartpole/clash: both an object and a folder" in skipped
    assert (root.local_root / "cartpole" / "clash" / "inner.json").read_bytes() == b"{}"
    # Nothing was written outside the tree.
    assert sorted(p.name for p in root.mirror.base.iterdir()) == ["lock", "manifest.json", "tree"]


def test_polling_brings_an_update_in_without_being_asked(s3: Bucket, tmp_path: Path) -> None:
    uploaded(s3, tmp_path)
    root = open_root(s3)
    # Every report of the poller's syncs, kept as they come (the real sync runs): `root.last`
    # alone is set only once the file is written, and a later poll may replace it.
    reports: list[SyncReport] = []
    sync = root.mirror.sync

    def observed() -> SyncReport:
        report = sync()
        reports.append(report)
        return report

    root.mirror.sync = observed  # type: ignore[method-assign]
    root.start_polling(0.2)
    old = s3.get(LOG_KEY)
    s3.put(LOG_KEY, old + old.splitlines(keepends=True)[0])
    target = root.local_root / RUN / "train_episodes.jsonl"
    deadline = time.monotonic() + 30  # a hang guard, not a speed assertion
    fetched: list[SyncReport] = []
    while not fetched:
        assert time.monotonic() < deadline, "the poller never fetched the update"
        time.sleep(0.05)
        fetched = [r for r in reports if r.ranged_gets or r.whole_gets]
    root.stop()
    assert target.stat().st_size == len(old) + len(old.splitlines(keepends=True)[0])
    # The one poll that fetched anything read the appended bytes with one ranged GET.
    assert len(fetched) == 1 and fetched[0].ranged_gets == 1 and fetched[0].whole_gets == 0


# -- pruning ------------------------------------------------------------------------------------


def step_keys(s3: Bucket, rel: str) -> set[str]:
    return {k for k in s3.keys(f"runs/{rel}/checkpoints") if "/step_" in k}


def test_prune_deletes_from_the_bucket_and_skips_an_object_replaced_since_the_preview(
    s3: Bucket, tmp_path: Path
) -> None:
    uploaded(s3, tmp_path, runs=1)
    root = open_root(s3)
    run_dir = next((root.local_root / "cartpole" / "v1").iterdir())
    rel = f"cartpole/v1/{run_dir.name}"
    before = step_keys(s3, rel)
    assert len(before) == 3
    (plan,) = plan_prune_tree(run_dir, 0, root=root.local_root, now=time.time() + 3600)
    assert len(plan.delete) == 3
    replaced = f"runs/{rel}/checkpoints/{plan.delete[0].path.name}"
    s3.put(replaced, b"\1" * 96)  # same size, new content: only the ETag tells
    result = apply_prune(plan, now=time.time() + 3600, remove=root.mirror.delete_unchanged)
    assert len(result.deleted) == 2 and not result.failed
    ((kept_path, reason),) = result.skipped
    assert kept_path.name == plan.delete[0].path.name
    assert "replaced or rewritten in the bucket since the preview" in reason
    assert step_keys(s3, rel) == {replaced}
    assert s3.get(replaced) == b"\1" * 96
    # latest.mpk, best.mpk, the logs and the metadata are all still there.
    left = s3.keys(f"runs/{rel}")
    assert {k.rsplit("/", 1)[1] for k in left} >= {
        "latest.mpk",
        "best.mpk",
        "train_episodes.jsonl",
        "eval_episodes.jsonl",
        "metadata.json",
        "config.json",
    }


def test_runlog_prune_on_a_url_previews_then_deletes_only_step_checkpoints(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path)
    all_keys = s3.keys("runs")
    # Just uploaded, so written within the live window: --include-live.
    assert main(["prune", s3.url(), "--keep", "1", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == []
    assert main(["prune", s3.url(), "--keep", "1", "--dry-run", "--json", "--include-live"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert len(preview["deleted"]) == 4 and preview["dry_run"]
    assert all(p.startswith(s3.url() + "/") for p in preview["deleted"])
    assert s3.keys("runs") == all_keys  # a dry run deletes nothing
    assert main(["prune", s3.url(), "--keep", "1", "--json", "--include-live"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert sorted(done["deleted"]) == sorted(preview["deleted"])
    gone = {p.removeprefix(f"s3://{s3.name}/") for p in done["deleted"]}
    assert s3.keys("runs") == all_keys - gone


def test_read_only_refuses_a_remote_prune_and_the_bucket_is_unchanged(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path)
    all_keys = s3.keys("runs")
    assert main(["--read-only", "prune", s3.url(), "--keep", "0"]) == 2
    assert "read-only mode is on" in capsys.readouterr().err
    assert s3.keys("runs") == all_keys


# -- one clear line per refusal -----------------------------------------------------------------


def test_a_missing_bucket_is_one_line(s3: Bucket, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "s3://runlog-no-such-bucket/runs"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "runlog: error: cannot list s3://runlog-no-such-bucket/runs: the bucket "
        "'runlog-no-such-bucket' does not exist"
    )


def test_an_empty_prefix_lists_no_runs(s3: Bucket, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", s3.url("nothing-here")]) == 0
    assert capsys.readouterr().out.strip() == f"no runs under {s3.url('nothing-here')}"


def test_refused_credentials_and_permissions_are_one_line_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_auth_s3()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        assert main(["ls", f"s3://{server.bucket}/runs"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "the store refused the credentials" in err
        assert SECRET_KEY not in err and "AKIAUNKNOWNKEY000000" not in err

        key, secret = server.reader
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        forget_remotes()
        assert main(["ls", f"s3://{server.bucket}/runs"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"cannot list s3://{server.bucket}/runs: permission denied" in err
        assert secret not in err and key not in err
    finally:
        server.proc.terminate()
        server.proc.wait(10)


def test_a_missing_extra_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # An fsspec protocol whose implementation is not installed here.
    assert main(["ls", "oci://bucket/runs"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("runlog: error: oci://bucket/runs: reading oci:// roots needs")
    assert "\n" not in err


def test_the_cli_output_never_shows_the_mirror(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path)
    for args in (
        ["ls", s3.url()],
        ["show", s3.url(f"runs/{RUN}")],
        ["resolve", s3.url("runs/cartpole")],
    ):
        assert main(args) == 0
        out = capsys.readouterr().out
        assert os.environ["RUNLOG_CACHE_DIR"] not in out
        assert s3.url() in out or RUN in out
    assert main(["resolve", s3.url("runs/cartpole")]) == 0
    assert capsys.readouterr().out.strip() == s3.url(f"runs/{RUN}").replace(
        "20260322_120000", sorted(p.name for p in (tmp_path / "local/cartpole/v1").iterdir())[-1]
    )


def test_deleting_the_cache_loses_nothing(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path)
    first = ls_json(capsys, s3.url())
    forget_remotes()
    shutil.rmtree(os.environ["RUNLOG_CACHE_DIR"])
    assert ls_json(capsys, s3.url()) == first


def test_cache_info_counts_the_mirror_and_clear_removes_it(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path)
    root = open_root(s3)
    logs = sum(p.stat().st_size for p in root.local_root.rglob("*.jsonl"))
    assert main(["cache", "info", "--json"]) == 0
    mirror_bytes = json.loads(capsys.readouterr().out)["mirror_bytes"]
    # The logs' bytes are held (block-rounded); the sparse checkpoints take no space.
    assert logs <= mirror_bytes < logs + 64 * 4096
    assert main(["cache", "clear"]) == 0
    assert "mirrors of remote roots" in capsys.readouterr().out
    assert not root.mirror.base.exists()
    forget_remotes()
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mirror_bytes"] == 0


def test_tags_and_notes_of_a_remote_run_are_written_back_to_the_bucket(
    s3: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uploaded(s3, tmp_path, runs=1)
    url = s3.url(f"runs/{RUN}")
    assert main(["tag", url, "baseline", "seed-sweep"]) == 0
    assert capsys.readouterr().out.strip() == f"{url}: tags baseline, seed-sweep"
    assert json.loads(s3.get(f"runs/{RUN}/runlog.json"))["tags"] == ["baseline", "seed-sweep"]
    # Someone else changes them in the bucket; the next command starts from theirs.
    theirs = json.loads(s3.get(f"runs/{RUN}/runlog.json"))
    theirs["note"] = "set on another machine"
    s3.put(f"runs/{RUN}/runlog.json", json.dumps(theirs).encode())
    assert main(["tag", url, "--remove", "seed-sweep"]) == 0
    capsys.readouterr()
    stored = json.loads(s3.get(f"runs/{RUN}/runlog.json"))
    assert stored["tags"] == ["baseline"] and stored["note"] == "set on another machine"
    forget_remotes()
    (record,) = [r for r in ls_json(capsys, s3.url()) if r["rel"] == RUN]
    assert record["tags"] == ["baseline"] and record["note"] == "set on another machine"
    assert main(["--read-only", "note", url, "x"]) == 2
    assert json.loads(s3.get(f"runs/{RUN}/runlog.json"))["note"] == "set on another machine"


def test_a_failed_write_back_leaves_the_mirror_as_the_bucket_has_it(
    s3: Bucket, tmp_path: Path
) -> None:
    from runlog.format.layout import notes_path
    from runlog.format.notes import RunNotes, update_notes

    uploaded(s3, tmp_path, runs=1)
    root = open_root(s3)
    path = notes_path(root.local_root / RUN)
    s3.fs.rm(s3.name, recursive=True)  # the bucket goes away between the read and the write
    with pytest.raises(RemoteError):
        root.write_back(path, lambda: update_notes(path.parent, lambda _: RunNotes(("x",), "")))
    assert not path.exists()  # the tree shows what the store has: no runlog.json


def test_a_store_without_etags_is_synced_by_size_and_time_and_cannot_be_pruned(
    tmp_path: Path,
) -> None:
    """fsspec's memory:// filesystem lists sizes and times but no ETag."""
    import fsspec

    fs = fsspec.filesystem("memory")
    bucket = f"mem-{tmp_path.name}"
    local = tmp_path / "local"
    make_tree(local, runs=1)
    for path in local.rglob("*"):
        if path.is_file():
            fs.pipe_file(f"{bucket}/runs/{path.relative_to(local).as_posix()}", path.read_bytes())
    try:
        root = open_remote(RemoteURL("memory", bucket, "runs"), cache=tmp_path / "cache")
        assert root.last is not None and root.last.whole_gets == 4
        again = root.sync()
        assert again is not None and not again.changed  # no ETag, yet nothing fetched again
        assert not root.mirror.can_prune()
        run_dir = next((root.local_root / "cartpole" / "v1").iterdir())
        (plan,) = plan_prune_tree(run_dir, 0, root=root.local_root, now=time.time() + 3600)
        result = apply_prune(plan, now=time.time() + 3600, remove=root.mirror.delete_unchanged)
        assert not result.deleted
        assert all("reports no identity" in why for _, why in result.skipped)
        assert len([k for k in fs.find(bucket) if "/step_" in k]) == 3
    finally:
        fs.rm(bucket, recursive=True)
        forget_remotes()


def test_sweep_and_index_on_a_url_agree_with_the_local_tree(
    s3: Bucket, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put_tree(SAMPLE_RUNS / "cartpole" / "sweep", "runs/cartpole/sweep")
    assert main(["index", s3.url()]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"indexed 12 runs under {s3.url()} in ")
    assert os.environ["RUNLOG_CACHE_DIR"] not in out.split(";")[0]
    assert main(["sweep", "--json", s3.url("runs/cartpole/sweep")]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert main(["sweep", "--json", str(SAMPLE_RUNS / "cartpole" / "sweep")]) == 0
    local = json.loads(capsys.readouterr().out)
    assert remote == local
    assert len(remote["groups"]) == 4 and remote["varying"]
