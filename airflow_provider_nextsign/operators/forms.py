"""Fill a NextSign form: one signing case per submission."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.hooks.checks import (
    check_recipients,
    check_signing_schemas,
    check_title,
    tag_list,
)
from airflow_provider_nextsign.links import NextSignCaseLink
from airflow_provider_nextsign.operators._masking import mask_recipient_secrets
from airflow_provider_nextsign.operators._reference import (
    case_id_of,
    create_once,
    default_reference_id,
    push_case,
    run_started_at,
)
from airflow_provider_nextsign.operators._validation import check_extra_fields, check_tags
from airflow_provider_nextsign.operators.base import NextSignBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Forms Submit body fields the operator sets from its own arguments (not from ``submit_fields``).
OWNED_FIELDS = {
    "tags": "tags",
    "recipients": "recipients",
    "title": "title",
    "referenceId": "reference_id",
    "signingSchemas": "signing_schemas",
}


class NextSignSubmitFormOperator(NextSignBaseOperator):
    """Submit a form with tag values and recipients, which creates a signing case; returns the case id.

    Tags are checked against the form's Forms Tags before the submit is sent (unknown tags, missing
    tags, values of the wrong type), recipients locally (email, ``cpr`` when ``needsCpr``, signing
    schemas). The submit carries a ``referenceId`` (default: from dag, task, map index and run id), so a
    retried task reuses the case it already created instead of creating a second one.

    Recipients' ``cpr`` numbers are masked in logs and in the rendered template fields.

    Works with dynamic task mapping, e.g. ``.partial(form_id=..., recipients=...).expand(tags=rows)`` or
    ``.expand_kwargs(rows)``.

    The connection (``nextsign_conn_id``) and ``hook_params`` are those of
    :class:`~airflow_provider_nextsign.operators.base.NextSignBaseOperator`.

    :param form_id: the form to fill (templated).
    :param tags: ``{tag: value}`` or the API's list of ``{"tag", "value"[, "type"]}`` (templated).
    :param recipients: list of recipient dicts (``name``, ``email``, ``signing``, ``needsCpr``/``cpr``,
        ...) (templated).
    :param title: case title (defaults to the form's title) (templated).
    :param reference_id: overrides the derived ``referenceId`` (templated).
    :param signing_schemas: allowed signature methods for the case.
    :param submit_fields: any other Forms Submit body field (``folder``, ``message``, ``settings``, ...)
        (templated).
    :param reconcile_window: seconds to keep looking for the case when the submit's answer is lost
        (default: the connection's ``reconcile_window`` extra, else 3 x its timeout). Not found by
        then, the attempt fails without submitting again; the next attempt looks it up first.
    """

    template_fields: Sequence[str] = (
        "form_id",
        "tags",
        "recipients",
        "title",
        "reference_id",
        "submit_fields",
        "nextsign_conn_id",
    )
    template_fields_renderers = {"tags": "json", "recipients": "json", "submit_fields": "json"}
    operator_extra_links = (NextSignCaseLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        form_id: str,
        tags: Any,
        recipients: Any,
        title: str | None = None,
        reference_id: str | None = None,
        signing_schemas: list[str] | None = None,
        submit_fields: dict[str, Any] | None = None,
        reconcile_window: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.form_id = form_id
        self.tags = tags
        self.recipients = recipients
        self.title = title
        self.reference_id = reference_id
        self.signing_schemas = signing_schemas
        self.submit_fields = submit_fields if submit_fields is not None else {}
        self.reconcile_window = reconcile_window

    def _do_render_template_fields(self, *args: Any, **kwargs: Any) -> None:
        # Both the plain and the mapped-task render path of Airflow 2.11 and 3 end here.
        super()._do_render_template_fields(*args, **kwargs)
        mask_recipient_secrets(self.recipients)

    def execute(self, context: Context) -> str:
        """Check everything, submit the form once (reusing a case an earlier attempt created), push the
        case id and link to XCom, and return the case id."""
        if not self.form_id:
            raise ValueError("form_id is required: the id of the NextSign form to fill")
        tags = tag_list(self.tags, infer_types=False)
        recipients = check_recipients(self.recipients)
        fields = check_extra_fields(self.submit_fields, "submit_fields", OWNED_FIELDS)
        if self.signing_schemas:
            fields["signingSchemas"] = check_signing_schemas(self.signing_schemas, "signing_schemas")
        if self.title not in (None, ""):  # empty: the form's own title
            fields["title"] = check_title(self.title)
        reference_id = self.reference_id or default_reference_id(context)
        fields["referenceId"] = reference_id

        hook = self.hook
        payload_tags = check_tags(tags, hook.get_form_tags(self.form_id))

        def submit() -> dict[str, Any]:
            return hook.submit_form(self.form_id, tags=payload_tags, recipients=recipients, **fields)

        case = create_once(
            hook,
            reference_id=reference_id,
            try_number=int(getattr(context["ti"], "try_number", 1) or 1),
            create=submit,
            folder=fields.get("folder"),
            title=fields.get("title"),
            run_started=run_started_at(context),
            reconcile_window=self.reconcile_window,
        )
        case_id = case_id_of(case)
        push_case(context, hook, case_id)
        self.log.info("Form %s submitted: case %s (referenceId %s)", self.form_id, case_id, reference_id)
        return case_id
