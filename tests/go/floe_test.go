// Go clients against the real floe binary, started by tests/python/test_go.py:
// the database/sql Flight SQL driver (what Grafana and usql build on), the
// exact calls Grafana's Flight SQL data source makes, and the ADBC Go driver.
package floe_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-adbc/go/adbc"
	adbcflight "github.com/apache/arrow-adbc/go/adbc/driver/flightsql"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	_ "github.com/apache/arrow-go/v18/arrow/flight/flightsql/driver"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func env(t *testing.T, name string) string {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		t.Fatalf("%s is not set: run these tests through tests/python/test_go.py", name)
	}
	return value
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("flightsql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestDatabaseSQLQueries(t *testing.T) {
	db := open(t, "flightsql://"+env(t, "FLOE_ADDR")+"?timeout=60s")
	if got := count(t, db, "select 1"); got != 1 {
		t.Fatalf("select 1 gave %d", got)
	}
	rows, err := db.Query("SELECT species, avg(sepal_length) AS mean FROM default.flowers GROUP BY species ORDER BY species")
	if err != nil {
		t.Fatal(err)
	}
	var species []string
	for rows.Next() {
		var name string
		var mean float64
		if err := rows.Scan(&name, &mean); err != nil {
			t.Fatal(err)
		}
		species = append(species, name)
	}
	rows.Close()
	if strings.Join(species, ",") != "setosa,versicolor,virginica" {
		t.Fatalf("species %v", species)
	}
}

func TestDatabaseSQLParameters(t *testing.T) {
	db := open(t, "flightsql://"+env(t, "FLOE_ADDR")+"?timeout=60s")
	literal := count(t, db, "SELECT count(*) FROM default.flowers WHERE sepal_length > 5.8 AND species <> 'setosa'")
	if got := count(t, db, "SELECT count(*) FROM default.flowers WHERE sepal_length > ? AND species <> ?", 5.8, "setosa"); got != literal {
		t.Fatalf("bound %d, literal %d", got, literal)
	}
	cases := []struct {
		condition string
		value     any
	}{{"i = ?", int64(42)}, {"l = ?", int64(9_000_000_000)}, {"d = ?", 2.25}, {"s = ?", "héllo"}, {"b = ?", true}}
	for _, c := range cases {
		if got := count(t, db, "SELECT count(*) FROM jdbc.types WHERE "+c.condition, c.value); got != 1 {
			t.Errorf("%s with %v matched %d rows", c.condition, c.value, got)
		}
	}
}

func TestDatabaseSQLTypes(t *testing.T) {
	db := open(t, "flightsql://"+env(t, "FLOE_ADDR")+"?timeout=60s")
	var (
		id                  int64
		b                   bool
		i, l                int64
		f, d, dec           float64
		dt, ts, tstz        time.Time
		s                   string
		u, fx, bin          []byte
	)
	err := db.QueryRow("SELECT id, b, i, l, f, d, dec, dt, ts, tstz, s, u, fx, bin FROM jdbc.types WHERE id = 1").
		Scan(&id, &b, &i, &l, &f, &d, &dec, &dt, &ts, &tstz, &s, &u, &fx, &bin)
	if err != nil {
		t.Fatal(err)
	}
	if !b || i != 42 || l != 9_000_000_000 || f != 1.5 || d != 2.25 || math.Abs(dec-1234.56) > 1e-9 || s != "héllo" {
		t.Fatalf("values %v %v %v %v %v %v %q", b, i, l, f, d, dec, s)
	}
	if dt.Format("2006-01-02") != "2024-02-29" || !ts.Equal(time.Date(2024, 2, 29, 12, 34, 56, 789012000, time.UTC)) {
		t.Fatalf("dates %v %v", dt, ts)
	}
	if !tstz.Equal(time.Date(2024, 2, 29, 12, 34, 56, 789012000, time.UTC)) {
		t.Fatalf("timestamptz %v", tstz)
	}
	if len(u) != 16 || string(fx) != "\x01\x02\x03\x04" || string(bin) != "\x00\xff" {
		t.Fatalf("binary %x %x %x", u, fx, bin)
	}
	var nullable sql.NullInt64
	if err := db.QueryRow("SELECT i FROM jdbc.types WHERE id = 2").Scan(&nullable); err != nil || nullable.Valid {
		t.Fatalf("NULL read as %v (%v)", nullable, err)
	}
}

func TestDatabaseSQLExec(t *testing.T) {
	db := open(t, "flightsql://"+env(t, "FLOE_ADDR")+"?timeout=60s")
	exec := func(statement string, args ...any) int64 {
		t.Helper()
		result, err := db.Exec(statement, args...)
		if err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
		n, err := result.RowsAffected()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec("DROP TABLE IF EXISTS gosql.written")
	exec("CREATE SCHEMA IF NOT EXISTS gosql")
	exec("CREATE TABLE gosql.written (k BIGINT, v VARCHAR)")
	if n := exec("INSERT INTO gosql.written VALUES (1, 'a'), (2, 'b')"); n != 2 {
		t.Fatalf("INSERT affected %d", n)
	}
	if n := exec("INSERT INTO gosql.written VALUES (?, ?)", int64(3), "c"); n != 1 {
		t.Fatalf("bound INSERT affected %d", n)
	}
	if n := exec("UPDATE gosql.written SET v = 'z' WHERE k > ?", int64(1)); n != 2 {
		t.Fatalf("UPDATE affected %d", n)
	}
	if got := count(t, db, "SELECT count(*) FROM gosql.written WHERE v = 'z'"); got != 2 {
		t.Fatalf("%d rows updated", got)
	}
	exec("DROP TABLE gosql.written")
}

// grafana is a Flight SQL client set up as Grafana's data source sets it up.
func grafana(t *testing.T, address string, headers ...string) (*flightsql.Client, context.Context) {
	t.Helper()
	client, err := flightsql.NewClient(address, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	if len(headers) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, headers...)
	}
	return client, ctx
}

func readAll(t *testing.T, client *flightsql.Client, ctx context.Context, info *flight.FlightInfo) []arrow.RecordBatch {
	t.Helper()
	var batches []arrow.RecordBatch
	for _, endpoint := range info.Endpoint {
		reader, err := client.DoGet(ctx, endpoint.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		for reader.Next() {
			batch := reader.RecordBatch()
			batch.Retain()
			batches = append(batches, batch)
		}
		if err := reader.Err(); err != nil {
			t.Fatal(err)
		}
		reader.Release()
	}
	return batches
}

// The calls Grafana's Flight SQL data source makes: "Save & test" runs
// `select 1`; the query editor lists tables and columns; a panel query must
// come back as exactly one endpoint.
func TestGrafanaCallSequence(t *testing.T) {
	client, ctx := grafana(t, env(t, "FLOE_ADDR"))
	info, err := client.Execute(ctx, "select 1")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) != 1 {
		t.Fatalf("unsupported endpoint count in response: %d", len(info.Endpoint))
	}
	readAll(t, client, ctx, info)

	info, err = client.GetSqlInfo(ctx, []flightsql.SqlInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var infos int64
	for _, batch := range readAll(t, client, ctx, info) {
		infos += batch.NumRows()
	}
	if infos < 80 {
		t.Fatalf("GetSqlInfo answered %d ids", infos)
	}

	info, err = client.GetTables(ctx, &flightsql.GetTablesOpts{TableTypes: []string{"BASE TABLE", "table"}})
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, batch := range readAll(t, client, ctx, info) {
		names := batch.Column(2).(*array.String)
		for row := 0; row < names.Len(); row++ {
			tables = append(tables, names.Value(row))
		}
	}
	if !strings.Contains(strings.Join(tables, ","), "types") {
		t.Fatalf("tables %v", tables)
	}

	name := "types"
	info, err = client.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: &name, IncludeSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	batches := readAll(t, client, ctx, info)
	raw := batches[0].Column(4).(*array.Binary).Value(0)
	schema, err := flight.DeserializeSchema(raw, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if schema.Field(0).Name != "id" || schema.NumFields() != 18 {
		t.Fatalf("table schema %v", schema)
	}
	if typeName, _ := schema.Field(6).Metadata.GetValue("ARROW:FLIGHT:SQL:TYPE_NAME"); typeName != "DECIMAL" {
		t.Fatalf("dec described as %q", typeName)
	}

	// Grafana's built-in editor lists tables and columns with SQL.
	info, err = client.Execute(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'jdbc' ORDER BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	listed := readAll(t, client, ctx, info)[0].Column(0).(*array.String)
	if listed.Len() != 1 || listed.Value(0) != "types" {
		t.Fatalf("information_schema.tables: %v", listed)
	}
	info, err = client.Execute(ctx, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'jdbc' AND table_name = 'types'")
	if err != nil {
		t.Fatal(err)
	}
	var columns int64
	for _, batch := range readAll(t, client, ctx, info) {
		columns += batch.NumRows()
	}
	if columns != 18 {
		t.Fatalf("information_schema.columns: %d rows", columns)
	}
}

// Grafana rejects more than one endpoint: a cluster gives it one unless the
// client asks for the workers' partitions directly.
func TestGrafanaGetsOneEndpointFromACluster(t *testing.T) {
	address := env(t, "FLOE_CLUSTER_ADDR")
	endpoints := func(headers ...string) int {
		client, ctx := grafana(t, address, headers...)
		info, err := client.Execute(ctx, "SELECT n, label FROM big.numbers")
		if err != nil {
			t.Fatal(err)
		}
		return len(info.Endpoint)
	}
	if n := endpoints(); n != 1 {
		t.Fatalf("default: %d endpoints", n)
	}
	if n := endpoints("x-floe-distributed", "true"); n < 2 {
		t.Fatalf("distributed, direct: %d endpoints", n)
	}
	if n := endpoints("x-floe-distributed", "true", "x-floe-endpoints", "proxy"); n != 1 {
		t.Fatalf("distributed, proxied: %d endpoints", n)
	}
}

func TestPollFlightInfoAndSubstrait(t *testing.T) {
	client, ctx := grafana(t, env(t, "FLOE_ADDR"))
	poll, err := client.ExecutePoll(ctx, "SELECT count(*) AS n FROM default.flowers", nil)
	if err != nil {
		t.Fatal(err)
	}
	if poll.GetFlightDescriptor() != nil || poll.GetProgress() != 1.0 || len(poll.GetInfo().GetEndpoint()) != 1 {
		t.Fatalf("poll %v", poll)
	}
	batches := readAll(t, client, ctx, poll.GetInfo())
	if batches[0].Column(0).(*array.Int64).Value(0) != 150 {
		t.Fatalf("count %v", batches[0])
	}
	_, err = client.ExecuteSubstrait(ctx, flightsql.SubstraitPlan{Plan: []byte{1}, Version: "0.1"})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "SQL") {
		t.Fatalf("substrait answered %v", err)
	}
}

func TestADBCGoDriver(t *testing.T) {
	ctx := context.Background()
	db, err := adbcflight.NewDriver(memory.DefaultAllocator).NewDatabase(map[string]string{
		adbc.OptionKeyURI: "grpc://" + env(t, "FLOE_ADDR"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	statement, err := conn.NewStatement()
	if err != nil {
		t.Fatal(err)
	}
	defer statement.Close()
	if err := statement.SetSqlQuery("SELECT count(*) AS n FROM default.flowers WHERE sepal_length > ?"); err != nil {
		t.Fatal(err)
	}
	if err := statement.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	params := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{{Name: "p", Type: arrow.PrimitiveTypes.Float64}}, nil))
	params.Field(0).(*array.Float64Builder).Append(7.0)
	if err := statement.Bind(ctx, params.NewRecordBatch()); err != nil {
		t.Fatal(err)
	}
	reader, _, err := statement.ExecuteQuery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reader.Next()
	bound := reader.RecordBatch().Column(0).(*array.Int64).Value(0)
	reader.Release()
	sqlDB := open(t, "flightsql://"+env(t, "FLOE_ADDR"))
	if literal := count(t, sqlDB, "SELECT count(*) FROM default.flowers WHERE sepal_length > 7.0"); bound != literal {
		t.Fatalf("bound %d, literal %d", bound, literal)
	}

	objects, err := conn.GetObjects(ctx, adbc.ObjectDepthAll, nil, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer objects.Release()
	var catalogs []string
	for objects.Next() {
		names := objects.RecordBatch().Column(0).(*array.String)
		for row := 0; row < names.Len(); row++ {
			catalogs = append(catalogs, names.Value(row))
		}
	}
	if strings.Join(catalogs, ",") != "floe" {
		t.Fatalf("catalogs %v", catalogs)
	}
	var adbcErr adbc.Error
	if _, err := conn.NewStatement(); errors.As(err, &adbcErr) {
		t.Fatal(err)
	}
}
