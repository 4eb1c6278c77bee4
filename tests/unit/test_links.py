"""The "NextSign case" extra link reads the case URL its operator pushed to XCom."""

from __future__ import annotations

from unittest import mock

from airflow_provider_nextsign.links import XCOM_CASE_URL, NextSignCaseLink
from airflow_provider_nextsign.operators.cases import NextSignCreateCaseOperator
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator


def test_create_operators_expose_the_link():
    for operator in (NextSignSubmitFormOperator, NextSignCreateCaseOperator):
        assert [link.name for link in operator.operator_extra_links] == ["NextSign case"]


def test_link_is_the_pushed_case_url():
    ti_key = object()
    with mock.patch(
        "airflow_provider_nextsign.links.XCom.get_value", return_value="https://ns.test/user/c/case/1"
    ) as get:
        assert NextSignCaseLink().get_link(operator=None, ti_key=ti_key) == "https://ns.test/user/c/case/1"
    get.assert_called_once_with(ti_key=ti_key, key=XCOM_CASE_URL)


def test_link_is_empty_before_a_case_exists():
    with mock.patch("airflow_provider_nextsign.links.XCom.get_value", return_value=None):
        assert NextSignCaseLink().get_link(operator=None, ti_key=object()) == ""
