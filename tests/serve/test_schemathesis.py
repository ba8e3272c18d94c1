"""schemathesis against the real app of a names, a table and an image run, in process (ASGI): every
operation of /openapi.json gets schema-valid and schema-invalid requests, and every answer is documented
(status, content type, body schema), no answer is a 5xx, invalid data is refused and (names) valid data is
and invalid data is refused. Bounded: 30 derandomized examples per operation and mode, no shrinking.

`positive_data_acceptance` is left out: a schema can say that a row holds the columns c0 … c7 and a name
1 … 256 characters, not that a cell parses as a number, that bytes are a decodable PNG or that a name keeps
a character after NFKD ("\u00af" is a space and a combining mark); such requests get a documented 422."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from test_serve_http import tiny_run  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def _run_all(app, examples: int) -> dict[str, int]:
    """Every operation of `app`'s schema, positive and negative; returns the status counts seen."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    rejection = schema.config.checks.negative_data_rejection   # a request over a limit is refused with a 413
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    seen: dict[str, int] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        takes_input = op.path == "/predict"   # /health and /model take nothing: no invalid request to make
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[:2 if takes_input else 1]:

            @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(op.as_strategy(generation_mode=mode))
            def one(case):
                response = case.call_and_validate(checks=CHECKS)
                key = f"{op.method.upper()} {op.path} {mode.value} {response.status_code}"
                seen[key] = seen.get(key, 0) + 1
            one()
    return seen


@pytest.mark.parametrize("kind", ["names", "diabetes", "fashion"])
def test_schemathesis_finds_nothing(kind, fashion_run, tmp_path_factory):
    from dlpractice.runs.predictor import Predictor
    from dlpractice.serve.http import build_app
    folder = fashion_run if kind == "fashion" else tiny_run(kind, tmp_path_factory)
    seen = _run_all(build_app(Predictor(folder)), examples=30)
    predict = {k: n for k, n in seen.items() if " /predict " in k}
    assert any("positive 200" in k for k in predict) or kind == "fashion", seen  # valid requests answered
    assert any("negative 4" in k for k in predict), seen                        # invalid ones refused
