"""One interceptor around every call: request id, refused input, and one log event per call.

The event (structlog, JSON) carries the request id, method, trial id where the
request names one, caller, latency and outcome.  Request and response bodies
are never logged: they can hold trial data, and keys never pass through here.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Iterator

import grpc
import structlog

from dosefinding_server.engine.errors import InputError

from .status import invalid_argument

log = structlog.get_logger("dosefinding.rpc")
REQUEST_ID_KEY = "x-request-id"


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and value:
            return str(value)[:128]
    return uuid.uuid4().hex


def _fields(request: Any) -> dict[str, Any]:
    trial_id = getattr(request, "trial_id", "")
    return {"trial_id": trial_id} if trial_id else {}


class CallInterceptor(grpc.ServerInterceptor):
    """Maps engine input errors to statuses and logs every call once."""

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, method))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._stream(handler.unary_stream, method))
        return handler

    def _unary(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started, request_id = self._begin(context)
            try:
                response = behaviour(request, context)
            except InputError as error:
                self._finish(method, request, context, request_id, started, "INVALID_ARGUMENT")
                context.abort_with_status(invalid_argument(error))
            except Exception:
                self._finish(method, request, context, request_id, started, "ERROR")
                raise
            self._finish(method, request, context, request_id, started, None)
            return response

        return call

    def _stream(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started, request_id = self._begin(context)
            try:
                yield from behaviour(request, context)
            except InputError as error:
                self._finish(method, request, context, request_id, started, "INVALID_ARGUMENT")
                context.abort_with_status(invalid_argument(error))
            except Exception:
                self._finish(method, request, context, request_id, started, "ERROR")
                raise
            self._finish(method, request, context, request_id, started, None)

        return call

    @staticmethod
    def _begin(context: grpc.ServicerContext) -> tuple[float, str]:
        request_id = _request_id(context)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        return time.perf_counter(), request_id

    @staticmethod
    def _finish(method: str, request: Any, context: grpc.ServicerContext, request_id: str,
                started: float, failure: str | None) -> None:
        code = context.code() if hasattr(context, "code") else None
        outcome = failure or (code.name if isinstance(code, grpc.StatusCode) else "OK")
        log.info(
            "rpc",
            request_id=request_id,
            method=method,
            caller=context.peer(),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            outcome=outcome,
            **_fields(request),
        )
