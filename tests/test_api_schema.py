"""The HTTP API tested against its own OpenAPI document (schemathesis): a real `bentoml serve` on
127.0.0.1 with an indexed library, every operation of /docs.json called with generated requests;
no answer may be a server error (5xx), and every answer must have a status, content type and
body its document declares. Then what schemathesis found, as regular tests (serving.errors)."""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from conftest import bentoml_server
from serving.config import load_config

EXAMPLES = 100  # generated requests per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
calls: Counter[str] = Counter()  # requests sent per operation, checked by the last schema test


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The server's settings and its log (serve.log)."""
    return tmp_path_factory.mktemp("schema")


@pytest.fixture(scope="module")
def server(packaged, indexed, folder):
    with bentoml_server(packaged, folder, f"library:\n  path: {indexed}\n") as client:
        yield client


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server.base_url}/docs.json")


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_every_operation_answers_as_its_schema_says_and_never_with_a_server_error(api_schema, mode):
    """Requests that fit the document (positive) and that break it (negative), EXAMPLES per operation."""
    failures = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def answers_as_declared(case):
            calls[operation.label] += 1
            case.call_and_validate(checks=CHECKS, timeout=60)

        try:
            answers_as_declared()
        except Unsatisfiable:
            assert mode == schemathesis.GenerationMode.NEGATIVE  # an operation without inputs has none to break
        except Exception as failure:  # noqa: BLE001  (every operation is tried; all failures are listed)
            failures[operation.label] = failure
    assert not failures, "\n\n".join(f"{label}: {failure}" for label, failure in failures.items())


def test_every_operation_of_the_document_was_called(api_schema):
    operations = {result.ok().label for result in api_schema.get_all_operations()}
    assert {"POST /classify", "POST /recommend", "POST /similar", "GET /library/audio"} <= operations
    print("schemathesis requests per operation:", dict(calls))
    assert {op for op in operations if not calls[op]} == set(), dict(calls)


def _multipart(body: str) -> dict:
    return {"content": body.replace("\n", "\r\n").encode(), "headers": {"content-type": "multipart/form-data; boundary=B"}}


@pytest.mark.parametrize("body,reason", [
    ("--B\n[]--B--\n", "invalid multipart data"),  # a part header that does not parse
    ('--B\nContent-Disposition: form-data\n\n5\n--B--\n', '"name"'),  # a part without a name
    ('--B\nContent-Disposition: form-data; name="audio"\n\nhttp://127.0.0.1:9/x.mp3\n--B--\n', "uploaded file"),
])
def test_a_broken_multipart_body_is_a_400_with_the_reason(server, body, reason):
    """Each was a 500 (BentoML turned Starlette's refusal into one); a text where an upload
    belongs, BentoML would have taken for a URL to download."""
    for route in ("/classify", "/similar"):
        answer = server.post(route, **_multipart(body))
        assert answer.status_code == 400 and reason in answer.json()["error"], answer.text


def test_errors_are_the_objects_the_document_declares(server):
    """BentoML 1.4 answered a 4xx with a list of one object, and invalid input with a list as `detail`."""
    refused = server.post("/classify", files={"audio": ("notes.mp3", b"not audio\n" * 50)})
    invalid = server.post("/similar", data={"song_id": "seven"})
    for answer in (refused, invalid):
        assert answer.status_code == 400 and isinstance(answer.json()["error"], str), answer.text
        assert isinstance(answer.json().get("detail", ""), str), answer.text
    unmatched = server.get("/library/songs/seven")
    assert unmatched.status_code == 404 and unmatched.json() == {"detail": "Not Found"}


def test_a_refused_request_is_one_warning_line_in_the_log(server, folder):
    """BentoML logged each 4xx as an ERROR with a traceback; every request of this module so
    far, hundreds of them refused, left none."""
    refused = server.post("/classify", files={"audio": ("notes.mp3", b"not audio\n" * 50)})
    assert refused.status_code == 400
    log = (folder / "serve.log").read_text()
    reason = "refused /classify [POST] (400): notes.mp3: not a readable audio file"
    assert any(reason in line and "[WARNING]" in line for line in log.splitlines()), log[-3000:]
    assert "Exception on" not in log and "Traceback" not in log, log[-3000:]


def test_a_request_over_the_limits_is_a_413_the_document_declares(server):
    """Found by the generated requests: 58 uploads got a 413 the document did not list."""
    document = server.get("/docs.json").json()
    for route in ("/classify", "/recommend", "/similar"):
        assert "413" in document["paths"][route]["post"]["responses"], route
    uploads = [("favorites", (f"{i}.wav", b"RIFF")) for i in range(load_config().max_files + 1)]
    answer = server.post("/recommend", files=uploads)
    assert answer.status_code == 413 and "too many files" in answer.json()["error"], answer.text

