"""Breaking a documented command makes its doc-test fail, naming the page and line (against the lab)."""

from __future__ import annotations

import dataclasses

import pytest

from labdocs.doctests.run import LabTarget

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def models_block(docs, key: str):
    page = f"systems/{key}/README.md"
    return next(b for b in docs.runnable if b.page == page and b.lang == "console" and "/models" in b.code)


def break_block(what: str, code: str) -> str:
    if what == "wrong port":
        return code.replace(":8000/", ":8009/")
    if what == "wrong jq path":
        return code.replace(".data[0].id,", ".data[0].model_id,")
    command, shown_id, *rest = code.split("\n")  # the shown output carries the model id
    return "\n".join([command, shown_id.replace("/snapshots/", "/snapshots/0"), *rest])


@pytest.mark.parametrize("what", ["wrong port", "wrong model id", "wrong jq path"])
def test_a_broken_block_fails_with_page_and_line(what, doc_session, lab):
    block = models_block(doc_session, "stella")
    broken = break_block(what, block.code)
    assert broken != block.code
    with pytest.raises(pytest.fail.Exception) as failure:
        doc_session.check(dataclasses.replace(block, code=broken), LabTarget(lab))
    message = str(failure.value)
    assert message.startswith(f"{block.id}: ")
    if what == "wrong port":
        assert "could not reach stella.home.arpa" in message


def test_the_unbroken_block_passes(doc_session, lab):
    block = models_block(doc_session, "stella")
    doc_session.check(block, LabTarget(lab))


def test_an_unreachable_host_fails_fast_with_its_name(doc_session, lab):
    block = dataclasses.replace(models_block(doc_session, "stella"),
                                code="curl -fsS --max-time 5 http://stella.home.arpa:8009/health\n", lang="bash")
    with pytest.raises(pytest.fail.Exception) as failure:
        doc_session.check(block, LabTarget(lab))
    assert "could not reach stella.home.arpa" in str(failure.value)
    assert block.id in str(failure.value)
