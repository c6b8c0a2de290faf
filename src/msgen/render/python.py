"""Views for the Python templates: every identifier, type and import, computed here.

A template lays out the code's shape; these views hand it the facts, one frozen typed view per
generated file where the module has been converted. One module per generated file: py_models
(models.py), py_routes (api/routes.py), py_handlers (handlers/), py_clients (clients/), py_tests
(the test suite), py_app (main.py, settings.py); py_base holds what they share. This module keeps
their names importable from one place.
"""

from __future__ import annotations

from msgen.render.py_app import MainView, SettingsView, main_view, settings_view
from msgen.render.py_base import (
    Imports,
    Param,
    json_fields,
    path_params,
    query_params,
)
from msgen.render.py_clients import ClientMethodView, ClientsView, ClientView, Downstream, clients_view, downstreams
from msgen.render.py_handlers import EventPublish, HandlerFunction, HandlersView, RefCheck, handlers_view
from msgen.render.py_models import EntityModel, ModelsView, RuntimeModel, messaging_tables, models_view
from msgen.render.py_routes import HandlerCall, RoutesView, RouteView, StatusStreamView, routes_view, status_stream_path
from msgen.render.py_tests import (
    ConftestView,
    ContractTestView,
    CustomOp,
    DownstreamRead,
    DownstreamService,
    RefCheckExample,
    TestEntity,
    TestsView,
    conftest_view,
    contract_test_view,
    downstream_view,
    tests_view,
)
from msgen.render.pytypes import TYPE_IMPORTS

__all__ = [
    "TYPE_IMPORTS",
    "ClientMethodView",
    "ClientView",
    "ClientsView",
    "ConftestView",
    "ContractTestView",
    "CustomOp",
    "Downstream",
    "DownstreamRead",
    "DownstreamService",
    "EntityModel",
    "EventPublish",
    "HandlerCall",
    "HandlerFunction",
    "HandlersView",
    "Imports",
    "MainView",
    "ModelsView",
    "Param",
    "RefCheck",
    "RefCheckExample",
    "RouteView",
    "RoutesView",
    "RuntimeModel",
    "SettingsView",
    "StatusStreamView",
    "TestEntity",
    "TestsView",
    "clients_view",
    "conftest_view",
    "contract_test_view",
    "downstream_view",
    "downstreams",
    "handlers_view",
    "json_fields",
    "main_view",
    "messaging_tables",
    "models_view",
    "path_params",
    "query_params",
    "routes_view",
    "settings_view",
    "status_stream_path",
    "tests_view",
]
