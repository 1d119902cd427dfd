"""Checks an OpenLineage event against the spec as the OpenLineage project's
own Python client models it (`openlineage.client.generated`: classes
generated from the spec's JSON Schemas, one per event part and facet).
No registry this machine reaches ships the schema files themselves, so each
event is built strictly into those classes: no unknown fields, every
required one present, every value of its declared type, the validators the
generator emitted (UUID run ids, ISO times, URIs) run, and each facet's
`_schemaURL` the one its class was generated from."""

import types
import typing

import attr
from openlineage.client.generated import base
from openlineage.client.generated.catalog_dataset import CatalogDatasetFacet
from openlineage.client.generated.column_lineage_dataset import ColumnLineageDatasetFacet
from openlineage.client.generated.datasource_dataset import DatasourceDatasetFacet
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.generated.job_type_job import JobTypeJobFacet
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet
from openlineage.client.generated.parent_run import ParentRunFacet
from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet
from openlineage.client.generated.sql_job import SQLJobFacet
from openlineage.client.generated.storage_dataset import StorageDatasetFacet
from openlineage.client.generated.symlinks_dataset import SymlinksDatasetFacet

FACETS = {
    "run": {"processing_engine": ProcessingEngineRunFacet, "parent": ParentRunFacet, "errorMessage": ErrorMessageRunFacet},
    "job": {"sql": SQLJobFacet, "jobType": JobTypeJobFacet},
    "dataset": {"schema": SchemaDatasetFacet, "dataSource": DatasourceDatasetFacet, "symlinks": SymlinksDatasetFacet,
                "storage": StorageDatasetFacet, "catalog": CatalogDatasetFacet, "version": DatasetVersionDatasetFacet,
                "columnLineage": ColumnLineageDatasetFacet},
    "input": {},
    "output": {"outputStatistics": OutputStatisticsOutputDatasetFacet},
}
# Which facet family a `facets` map holds, by the class it belongs to.
FAMILY = {base.Run: {"facets": "run"}, base.Job: {"facets": "job"},
          base.InputDataset: {"facets": "dataset", "inputFacets": "input"},
          base.OutputDataset: {"facets": "dataset", "outputFacets": "output"}}


class Invalid(AssertionError):
    pass


def validate_event(event: dict):
    """Raises `Invalid` naming the first part of `event` the spec does not allow."""
    build(base.RunEvent, event, "event")


def build(cls, data, path: str):
    if not isinstance(data, dict):
        raise Invalid(f"{path}: expected an object for {cls.__name__}, got {data!r}")
    fields = {f.alias: f for f in attr.fields(cls)}
    by_name = {f.name: f for f in attr.fields(cls)}
    unknown = set(data) - set(fields) - set(by_name)
    if unknown:
        raise Invalid(f"{path}: {cls.__name__} has no field(s) {sorted(unknown)}")
    hints = typing.get_type_hints(cls)
    arguments = {}
    for key, value in data.items():
        field = by_name.get(key) or fields[key]
        if key in FAMILY.get(cls, {}):
            value = {name: facet(FAMILY[cls][key], name, body, f"{path}.{key}.{name}") for name, body in value.items()}
        else:
            value = typed(hints[field.name], value, f"{path}.{key}")
        if field.init:  # `_schemaURL` is not: `facet` compared it
            arguments[field.alias] = value
    for field in attr.fields(cls):
        if field.init and field.default is attr.NOTHING and field.alias not in arguments:
            raise Invalid(f"{path}: {cls.__name__} requires `{field.name}`")
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as err:
        raise Invalid(f"{path}: {err}") from err


def facet(family: str, name: str, body: dict, path: str):
    cls = FACETS[family].get(name)
    if cls is None:
        raise Invalid(f"{path}: not a {family} facet this test knows")
    if body.get("_schemaURL") != cls._get_schema():
        raise Invalid(f"{path}: _schemaURL {body.get('_schemaURL')!r} is not {cls._get_schema()!r}")
    return build(cls, body, path)


def typed(hint, value, path: str):
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return typed(option, value, path)
            except Invalid as err:
                errors.append(str(err))
        raise Invalid("; ".join(errors))
    if origin is list:
        if not isinstance(value, list):
            raise Invalid(f"{path}: expected a list")
        (item,) = typing.get_args(hint)
        return [typed(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise Invalid(f"{path}: expected an object")
        _, item = typing.get_args(hint)
        return {k: typed(item, v, f"{path}.{k}") for k, v in value.items()}
    if attr.has(hint):
        return build(hint, value, path)
    if isinstance(hint, type) and issubclass(hint, __import__("enum").Enum):
        try:
            return hint(value)
        except ValueError as err:
            raise Invalid(f"{path}: {err}") from err
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is typing.Any:
        return value
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise Invalid(f"{path}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
    return value
