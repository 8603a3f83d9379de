"""Submission rate limit per student (all labs together), and throttling of token guessing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_server, notebook_bytes


def test_over_the_hourly_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    """Two submissions to two labs use up a limit of 2: the third, to a third lab, is refused."""
    server = make_server(tmp_path, LABGRADER_SUBMISSIONS_PER_HOUR="2")
    server.start()
    try:
        token, other = server.add_user("eager"), server.add_user("calm")
        files = {"notebook": ("n.ipynb", notebook_bytes("print(1)"))}
        with server.client(token) as client:
            codes = [client.post(f"/api/v1/labs/{lab}/submissions", files=files).status_code
                     for lab in ("frameworks", "perceptron")]
            refused = client.post("/api/v1/labs/own_framework/submissions", files=files)
            listed = client.get("/api/v1/submissions").json()["total"]
        with server.client(other) as client:
            unaffected = client.post("/api/v1/labs/frameworks/submissions", files=files).status_code
    finally:
        server.stop()
    assert codes == [202, 202]
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 3500 <= retry_after <= 3601
    assert refused.json()["detail"] == (
        "you have submitted 2 notebooks in the last hour (all labs together); the limit is 2 per hour: "
        f"try again in {-(-retry_after // 60)} min")  # a person reads minutes; Retry-After keeps the seconds
    assert listed == 2
    assert unaffected == 202


def test_token_guessing_is_throttled_per_address(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    server.start()
    try:
        token = server.add_user("victim")
        with server.client() as client:
            guesses = [client.get("/api/v1/labs", headers={"Authorization": f"Bearer lg_guess{i}"}).status_code
                       for i in range(25)]
            refused = client.get("/api/v1/labs", headers={"Authorization": "Bearer lg_guess25"})
            valid = client.get("/api/v1/labs", headers={"Authorization": f"Bearer {token}"})
    finally:
        server.stop()
    assert guesses[:20] == [401] * 20
    assert set(guesses[20:]) == {429}
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many invalid tokens from this address; try again in ")
    # behind a proxy every user shares the guesser's address: a valid token is never locked out
    assert valid.status_code == 200


def test_fifty_concurrent_uploads_are_all_accepted(tmp_path: Path) -> None:
    """Uploads validate and write off the event loop: a burst neither times out nor exhausts the pool."""
    from concurrent.futures import ThreadPoolExecutor

    server = make_server(tmp_path)
    server.start()
    try:
        token = server.add_user("burst")
        payload = notebook_bytes("x = '" + "a" * 500_000 + "'", "print(len(x))")

        def upload(_: int) -> int:
            with server.client(token) as client:
                return client.post("/api/v1/labs/frameworks/submissions",
                                   files={"notebook": ("n.ipynb", payload)}).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            codes = list(pool.map(upload, range(50)))
    finally:
        server.stop()
    assert codes == [202] * 50
