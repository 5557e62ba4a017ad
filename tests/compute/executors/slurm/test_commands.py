"""build() and parse() of the Slurm commands, without a cluster."""

from __future__ import annotations

import pytest

from fabriek.compute.executors.slurm.commands import (
    CommandFailed,
    Sacct,
    Sacctmgr,
    Sbatch,
    Scancel,
    ScontrolRequeue,
    Squeue,
)

pytestmark = pytest.mark.unit


def test_sbatch_build_is_an_argv_with_user_text_as_single_words() -> None:
    command = Sbatch(name="train; rm -rf /", time_limit_minutes=30, nodes=2, cpus_per_task=4,
                     memory_per_node_mb=1024, gpus_per_node=2, partition="gpu",
                     account="fab-a7", qos="fabriek-standard", working_directory="/s/x y",
                     standard_output="/s/x y/stdout.log", comment="fabriek:job=42",
                     environment={"PATH": "/usr/bin", "SEED": "a,b"})
    argv = command.build()
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--job-name=train; rm -rf /" in argv
    assert "--chdir=/s/x y" in argv
    assert {"--gres=gpu:2", "--nodes=2", "--ntasks=2", "--cpus-per-task=4", "--mem=1024",
            "--time=30", "--requeue", "--export=ALL", "--comment=fabriek:job=42",
            "--qos=fabriek-standard", "--account=fab-a7", "--partition=gpu"} <= set(argv)
    assert command.env() == {"PATH": "/usr/bin", "SEED": "a,b"}  # not spliced into --export


def test_sbatch_parse() -> None:
    assert Sbatch.parse("123\n") == "123"
    assert Sbatch.parse("124;factory1\n") == "124"
    with pytest.raises(ValueError, match="no job id"):
        Sbatch.parse("sbatch: error: Batch job submission failed\n")


def test_squeue_build_and_parse() -> None:
    argv = Squeue(job_ids=["4", "5"]).build()
    assert argv[:2] == ["squeue", "--noheader"]
    assert argv[2].startswith("--Format=JobID:|,State:|,")
    assert argv[-2:] == ["--states=all", "--jobs=4,5"]
    assert Squeue().env() == {"SLURM_TIME_FORMAT": "%s"}
    rows = Squeue.parse(
        "4|RUNNING|None|0|1795279933|1795279933|1795279993|N/A|wrap|fabriek:job=77|\n"
        "5|PENDING|BeginTime|1|1795279933|1795280100|1795280160|gres:gpu:4|x|(null)|\n")
    assert rows[0]["JobID"] == "4" and rows[0]["Comment"] == "fabriek:job=77"
    assert (rows[1]["Restarts"], rows[1]["TresPerNode"], rows[1]["Comment"]) == (
        "1", "gres:gpu:4", "")


def test_scancel_and_requeue() -> None:
    assert Scancel("7").build() == ["scancel", "7"]
    assert Scancel("7", signal="USR1").build() == ["scancel", "--signal=USR1", "7"]
    assert ScontrolRequeue("7").build() == ["scontrol", "requeue", "7"]


def test_sacct_build_and_parse() -> None:
    argv = Sacct(job_ids=["13"], start="2026-11-01T00:00:00", users=["root"]).build()
    assert argv[:4] == ["sacct", "--allocations", "--parsable2", "--noheader"]
    assert {"--jobs=13", "--starttime=2026-11-01T00:00:00", "--user=root"} <= set(argv)
    assert "--allusers" in Sacct(all_users=True).build()
    rows = Sacct.parse("13|rec-exit3|FAILED|3:0|1795280081|1795280082|1795280082|"
                       "billing=1,cpu=1,mem=256M,node=1|None|fabriek:job=1|2\n")
    assert (rows[0]["State"], rows[0]["ExitCode"], rows[0]["Comment"]) == (
        "FAILED", "3:0", "fabriek:job=1|2")  # the last column keeps any '|'


def test_sacctmgr() -> None:
    assert Sacctmgr(["list", "qos", "format=name"]).build() == [
        "sacctmgr", "--immediate", "--parsable2", "--noheader", "list", "qos", "format=name"]
    assert Sacctmgr.parse("a|1\nb|2\n") == [["a", "1"], ["b", "2"]]
    assert Sacctmgr.nothing_changed(CommandFailed(["sacctmgr"], 1, " Nothing new added.\n"))
    assert not Sacctmgr.nothing_changed(CommandFailed(["sacctmgr"], 1, " Unknown option\n"))
