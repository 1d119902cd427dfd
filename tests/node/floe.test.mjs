// @lakehouse-rs/flight-sql-client (napi-rs over arrow-rs) with apache-arrow
// decoding the IPC it returns: a query, catalogs, schemas and tables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createFlightSqlClient } from "@lakehouse-rs/flight-sql-client";
import { tableFromIPC } from "apache-arrow";

const [host, port] = (process.env.FLOE_ADDR ?? "").split(":");
assert.ok(host && port, "FLOE_ADDR is not set: run through tests/python/test_node.py");

async function client(extra = {}) {
  return createFlightSqlClient({ host, port: Number(port), tls: false, headers: [], ...extra });
}

test("a query and its Arrow result", async () => {
  const floe = await client();
  const table = tableFromIPC(await floe.query(
    "SELECT species, count(*) AS n, avg(sepal_length) AS mean FROM default.flowers GROUP BY species ORDER BY species"));
  assert.deepEqual(table.schema.fields.map((f) => f.name), ["species", "n", "mean"]);
  assert.deepEqual(table.getChild("species").toArray(), ["setosa", "versicolor", "virginica"]);
  assert.deepEqual(Array.from(table.getChild("n").toArray(), Number), [50, 50, 50]);
  const total = tableFromIPC(await floe.query("SELECT sum(sepal_length) AS s FROM default.flowers WHERE species = 'setosa'"));
  assert.ok(Math.abs(table.getChild("mean").get(0) - total.getChild("s").get(0) / 50) < 1e-9);
});

test("every Iceberg type the client decodes", async () => {
  const floe = await client();
  const table = tableFromIPC(await floe.query("SELECT id, b, i, l, d, dec, dt, ts, s FROM jdbc.types ORDER BY id"));
  const row = table.get(0);
  assert.equal(Number(row.id), 1);
  assert.equal(row.b, true);
  assert.equal(row.i, 42);
  assert.equal(row.l, 9000000000n);
  assert.equal(row.d, 2.25);
  assert.equal(row.s, "héllo");
  assert.equal(new Date(row.dt).toISOString().slice(0, 10), "2024-02-29");
  assert.equal(table.get(1).s, null);
});

test("catalogs, schemas and tables", async () => {
  const floe = await client();
  assert.deepEqual(tableFromIPC(await floe.getCatalogs()).getChild("catalog_name").toArray(), ["floe"]);
  const schemas = tableFromIPC(await floe.getDbSchemas({ catalog: "floe", dbSchemaFilterPattern: "jd%" }));
  assert.deepEqual(schemas.getChild("db_schema_name").toArray(), ["jdbc"]);
  const tables = tableFromIPC(await floe.getTables({ dbSchemaFilterPattern: "jdbc", tableTypes: ["TABLE"] }));
  assert.ok(tables.getChild("table_name").toArray().includes("types"));
});

// The client reports "failed to prepare statement" without the server's
// message (Floe's InvalidArgument names the column); it still rejects.
test("errors reach the caller", async () => {
  const floe = await client();
  await assert.rejects(floe.query("SELECT no_such_column FROM default.flowers"));
  const after = tableFromIPC(await floe.query("SELECT count(*) AS n FROM default.flowers"));
  assert.equal(Number(after.getChild("n").get(0)), 150);
});
