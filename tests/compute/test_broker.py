"""The broker's admission through the API: budgets, windows, partition size, visibility."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from fabriek.compute.models import Job
from tests.compute import helpers as h

pytestmark = pytest.mark.integration


def test_submit_job_is_admitted_pending_submit(app_client, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(app_client, officer, anna)
    r = app_client.post("/api/v1/jobs", json=h.job(allocation_id, gpus=2, time_limit_minutes=90),
                        headers=anna.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["state"], body["worst_case_gpu_hours"], body["priority_class"],
            body["executor"]) == ("pending-submit", 3.0, "strategic", "local")
    usage = app_client.get(f"/api/v1/allocations/{allocation_id}/usage",
                           headers=anna.headers).json()
    assert (usage["gpu_hours_committed"], usage["gpu_hours_left"]) == (3.0, 7.0)


def test_submit_job_over_budget_is_refused_with_numbers_and_writes_nothing(
        app_client, make_person, officer, database):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(app_client, officer, anna)
    r = app_client.post("/api/v1/jobs", json=h.job(allocation_id, gpus=4, time_limit_minutes=180),
                        headers=anna.headers)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "policy_refusal" and body["rule"] == "GPU-hour budget of the allocation"
    assert body["worst_case_gpu_hours"] == 12.0 and body["gpu_hours_left"] == 10.0
    with database.unit_of_work(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_submit_job_larger_than_the_partition_is_refused(app_client, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(app_client, officer, anna, gpu_hours=1000)
    r = app_client.post("/api/v1/jobs", json=h.job(allocation_id, gpus=8), headers=anna.headers)
    assert r.status_code == 422 and "of 4 GPUs cannot hold 8 GPUs" in r.json()["detail"]


@pytest.mark.parametrize("field", [
    {"name": "bad name; rm -rf /"}, {"env": {"CUDA_VISIBLE_DEVICES": "0"}},
    {"env": {"1BAD": "x"}}, {"command": ["python3", "a\x00b"]}, {"time_limit_minutes": 0},
    {"script": "echo hi"}, {"gpus": 3, "nodes": 2}, {"image": "Not A Valid Image!"}])
def test_submit_job_bad_input_is_a_clear_4xx(app_client, make_person, officer, field):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(app_client, officer, anna)
    r = app_client.post("/api/v1/jobs", json=h.job(allocation_id, **field), headers=anna.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_jobs_of_another_organisation_are_invisible(app_client, make_person, officer):
    anna, bob = make_person("anna@lumen.example"), make_person("bob@other.example")
    allocation_id = h.allocation(app_client, officer, anna)
    job = app_client.post("/api/v1/jobs", json=h.job(allocation_id), headers=anna.headers).json()
    assert app_client.get(f"/api/v1/jobs/{job['id']}", headers=bob.headers).status_code == 404
    assert app_client.post(f"/api/v1/jobs/{job['id']}/cancel",
                           headers=bob.headers).status_code == 404
    assert app_client.get("/api/v1/jobs", headers=bob.headers).json()["items"] == []
    r = app_client.post("/api/v1/jobs", json=h.job(allocation_id), headers=bob.headers)
    assert r.status_code == 404  # bob cannot charge anna's allocation
    assert app_client.get(f"/api/v1/allocations/{allocation_id}/usage",
                          headers=bob.headers).status_code == 404


def test_cancel_before_it_reaches_the_executor(app_client, make_person, officer):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(app_client, officer, anna)
    job = app_client.post("/api/v1/jobs", json=h.job(allocation_id), headers=anna.headers).json()
    r = app_client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=anna.headers)
    assert r.json()["state"] == "cancelled"
    again = app_client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=anna.headers)
    assert again.status_code == 409


def test_concurrent_submissions_never_exceed_the_budget(app_client, make_person, officer,
                                                        database):
    anna = make_person("anna@lumen.example")
    allocation_id = h.allocation(app_client, officer, anna, gpu_hours=10)

    def submit(i: int) -> int:
        return app_client.post("/api/v1/jobs", headers=anna.headers,
                               json=h.job(allocation_id, name=f"j{i}", gpus=1,
                                          time_limit_minutes=60)).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(submit, range(24)))
    assert sorted(codes) == [201] * 10 + [422] * 14
    with database.unit_of_work(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 10
