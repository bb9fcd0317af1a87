"""One interceptor around every call: identity, access, errors, audit, and one log event.

For each call: a request id (the caller's ``x-request-id`` or a new one); the
principal (mTLS subject, bearer token, or explicit insecure local mode) and
its right to call the method; the servicer, with a :class:`Call` context; for
audited methods, the servicer's writes and the audit record committed together
and durably *before* the reply, whose receipt is placed in the response;
refused input as ``INVALID_ARGUMENT`` with field violations; and one structlog
event (request id, method, trial, principal, latency, outcome, and for audited
calls ``audit_ms``: the time spent making the audit record and waiting for
its durable commit).
Request and response bodies are never logged; they are in the audit log.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import grpc
import structlog
from google.protobuf import empty_pb2

from dosefinding_server.audit.trail import AuditTrail
from dosefinding_server.engine.errors import InputError
from dosefinding_server.security.authentication import Authenticator, Unauthenticated
from dosefinding_server.security.principals import Principal
from dosefinding_server.security.policy import allowed_roles, is_open

from . import auditing
from .calls import Call, enter, leave
from .payloads import message_bytes
from .status import invalid_argument

log = structlog.get_logger("dosefinding.rpc")
REQUEST_ID_KEY = "x-request-id"


class Refused(Exception):
    """A call stopped before or by its servicer, with the status to answer."""

    def __init__(self, code: grpc.StatusCode, message: str, status: grpc.Status | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and value:
            return str(value)[:128]
    return uuid.uuid4().hex


class CallInterceptor(grpc.ServerInterceptor):
    """Everything every call goes through; the servicers only translate and decide."""

    def __init__(self, authenticator: Authenticator, audit: AuditTrail) -> None:
        self.authenticator = authenticator
        self.audit = audit
        self._commit_timing = threading.local()

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or is_open(details.method):
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, details.method))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._stream(handler.unary_stream, details.method))
        return handler

    def _unary(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._serving(method, request, context) as call:
                response = behaviour(request, context)
                if auditing.is_audited(method):
                    self._commit(call, request, response)
            return response
        return handle

    def _stream(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        """Progress messages pass through at once; the final message waits for its audit commit."""
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._serving(method, request, context) as call:
                last = None
                for message in behaviour(request, context):
                    if last is not None:
                        yield last
                    last = message
                if last is not None:
                    if auditing.is_audited(method):
                        self._commit(call, request, last)
                    yield last
        return handle

    @contextmanager
    def _serving(self, method: str, request: Any, context: grpc.ServicerContext) -> Iterator[Call]:
        """Admit the caller, run the body with its :class:`Call`, answer refusals, log once."""
        started = time.perf_counter()
        request_id = _request_id(context)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        principal_name, trial_id = auditing.UNAUTHENTICATED_PRINCIPAL, None
        self._commit_timing.ms = None
        try:
            principal = self._admit(method, request, context)
            principal_name = principal.name
            call = Call(request_id, method, principal)
            token = enter(call)
            try:
                with self._failures(call, request, context):
                    yield call
                    if call.writes and not auditing.is_audited(method):
                        raise RuntimeError(f"{method} wrote state without an audit record")
            finally:
                call.release()
                leave(token)
                trial_id = call.trial_id or getattr(request, "trial_id", None) or None
        except Refused as refused:
            self._log(method, request_id, principal_name, trial_id, started, refused.code.name, context,
                      self._commit_timing.ms)
            if refused.status is not None:
                context.abort_with_status(refused.status)
            context.abort(refused.code, refused.message)
        self._log(method, request_id, principal_name, trial_id, started, "OK", context, self._commit_timing.ms)

    def _admit(self, method: str, request: Any, context: grpc.ServicerContext) -> Principal:
        try:
            principal = self.authenticator.principal(context)
        except Unauthenticated as error:
            self._audit_refusal(None, method, auditing.UNAUTHENTICATED_PRINCIPAL, "UNAUTHENTICATED", str(error))
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, str(error)) from None
        if not principal.may(allowed_roles(method)):
            roles = ", ".join(sorted(r.value for r in principal.roles)) or "none"
            message = f"{principal.name} (roles: {roles}) may not call {method}"
            self._audit_refusal(None, method, principal.name, "PERMISSION_DENIED", message, request)
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, message)
        return principal

    @contextmanager
    def _failures(self, call: Call, request: Any, context: grpc.ServicerContext) -> Iterator[None]:
        """Turn the servicer's refusals into audited :class:`Refused` answers."""
        audited = auditing.is_audited(call.method)
        try:
            yield
        except Refused:
            raise
        except InputError as error:
            if audited:
                self._audit_refusal(call, call.method, call.principal.name, "INVALID_ARGUMENT", str(error), request)
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(error), invalid_argument(error)) from None
        except Exception:
            code = context.code()
            if not isinstance(code, grpc.StatusCode):
                log.exception("internal_error", request_id=call.request_id, method=call.method)
                code = grpc.StatusCode.INTERNAL
                context.set_details(f"internal error (request id {call.request_id})")
            message = _text(context.details()) or code.name
            if audited:
                self._audit_refusal(call, call.method, call.principal.name, code.name, message, request)
            raise Refused(code, message) from None

    def _commit(self, call: Call, request: Any, response: Any) -> None:
        """Make the servicer's writes and the audit record durable together, then hand out the receipt."""
        waiting = time.perf_counter()
        record = auditing.entry(call, call.method, call.principal.name, request, message_bytes(response))
        try:
            receipt = self.audit.append_durable(record, call.writes)
        except Exception as error:
            raise Refused(grpc.StatusCode.ABORTED,
                          f"the write was not confirmed durable ({type(error).__name__}); retry with the same "
                          "idempotency key (a write that did commit is answered from its record, never applied "
                          "twice)") from None
        finally:
            self._commit_timing.ms = round((time.perf_counter() - waiting) * 1000, 3)
        for action in call.committed:
            action()
        audit_field = getattr(response, "DESCRIPTOR", None) and response.DESCRIPTOR.fields_by_name.get("audit")
        if audit_field is not None and not response.HasField("audit"):
            response.audit.sequence = receipt.seq
            response.audit.leaf_hash = receipt.leaf_hash

    def _audit_refusal(self, call: Call | None, method: str, principal: str, code: str, message: str,
                       request: Any = None) -> None:
        """Refusals are audited too; an unauthenticated caller's request body is not stored."""
        record = auditing.entry(call, method, principal, request if request is not None else empty_pb2.Empty(),
                                auditing.refusal_bytes(code, message), status=code)
        self.audit.append_durable(record)

    @staticmethod
    def _log(method: str, request_id: str, principal: str, trial_id: str | None, started: float,
             outcome: str, context: grpc.ServicerContext, audit_ms: float | None = None) -> None:
        if not log.is_enabled_for(logging.INFO):  # the event's fields (the peer address) cost a call each
            return
        fields: dict[str, Any] = {"trial_id": trial_id} if trial_id else {}
        if audit_ms is not None:
            fields["audit_ms"] = audit_ms
        log.info("rpc", request_id=request_id, method=method, principal=principal, caller=context.peer(),
                 latency_ms=round((time.perf_counter() - started) * 1000, 3), outcome=outcome, **fields)


def _text(details: str | bytes | None) -> str:
    """A servicer's status message as text: gRPC's server context keeps what ``abort`` was given as UTF-8
    bytes, which ``str()`` would show as a ``b'...'`` literal to the caller and in the audit record."""
    return details.decode("utf-8", "replace") if isinstance(details, bytes) else details or ""
