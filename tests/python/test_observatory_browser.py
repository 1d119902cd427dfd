"""The observatory in a real browser: Playwright driving Debian's chromium
(headless, no downloads) against a coordinator with three workers. A slow
query shows up live and is cancelled from its button; a finished query's
page shows its plan; the lake leads to a table's snapshots; the cluster page
charts three workers. Screenshots go to tests/artifacts/observatory/."""

import pathlib
import threading

import pyarrow.flight as flight
import pytest

from floe_sql import run
from flight_sql_wire import statement_query
from harness import QUICK, Cluster, free_port
from playwright import sync_api as playwright_api

ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "artifacts" / "observatory"
SLOW = "SELECT a.species, b.sepal_length, c.petal_width FROM default.flowers a, default.flowers b, default.flowers c"
DISTRIBUTED = "SELECT species, count(*) AS n, max(x) AS top FROM dist.big GROUP BY species"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    port = free_port()
    cluster = Cluster(tmp_path_factory.mktemp("observatory"), workers=3, coordinator=(*QUICK, "--http-listen", f"127.0.0.1:{port}"))
    cluster.observatory = f"http://127.0.0.1:{port}"
    with cluster.connect(False) as conn:
        run(conn, "SELECT species, avg(petal_length) AS mean FROM default.flowers GROUP BY species")
        run(conn, "CREATE SCHEMA dist")
        run(conn, "CREATE TABLE dist.big (id BIGINT, species VARCHAR, x DOUBLE) PARTITIONED BY (species)")
        run(conn, "INSERT INTO dist.big SELECT CAST(sepal_length * 10 AS BIGINT) AS id, species, petal_length AS x FROM default.flowers")
    with cluster.connect(True) as conn:
        run(conn, DISTRIBUTED)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    outside = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith("http://127.0.0.1") else None)
    yield page
    context.close()
    assert not outside, f"the page reached the network: {outside}"


def test_a_slow_query_is_seen_live_and_cancelled_from_its_button(cluster, page):
    errors, cancelled = [], threading.Event()

    def slow_client():
        with flight.connect(cluster.coordinator.uri) as client:
            info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(SLOW)))
            reader = client.do_get(info.endpoints[0].ticket)
            reader.read_chunk()
            # Read nothing more until the button is clicked: the query waits on
            # the client, so it is still running when the page shows it.
            cancelled.wait(30)
            try:
                while True:
                    reader.read_chunk()
            except flight.FlightCancelledError:
                pass
            except Exception as err:  # anything but a cancellation fails the test
                errors.append(err)
            else:
                errors.append("the stream ended without being cancelled")
    thread = threading.Thread(target=slow_client, daemon=True)
    thread.start()
    page.goto(cluster.observatory + "/queries?state=running")
    row = page.locator("#queries tbody tr", has_text="c.petal_width")
    row.locator("[data-state=running]").wait_for(timeout=15000)
    page.screenshot(path=ARTIFACTS / "queries-running.png")
    row.get_by_role("button", name="Cancel").click()
    cancelled.set()  # the client reads on, and meets the cancellation
    thread.join(20)
    assert not thread.is_alive() and not errors, errors
    page.goto(cluster.observatory + "/queries?state=cancelled")
    page.locator("#queries tbody tr", has_text="c.petal_width").locator("[data-state=cancelled]").wait_for(timeout=10000)
    page.goto(cluster.observatory + "/queries")
    page.locator("#queries tbody tr").first.wait_for()
    page.screenshot(path=ARTIFACTS / "queries.png")


def test_a_finished_query_shows_its_plan(cluster, page):
    page.goto(cluster.observatory + "/queries?state=finished")
    page.locator("#queries tbody tr", has_text="avg(petal_length)").get_by_role("link").first.click()
    page.locator("#plan").wait_for()
    assert "avg(petal_length)" in page.locator("#sql").inner_text()
    plan = page.locator("#plan").inner_text()
    assert "flowers" in plan and "AGGREGATE" in plan.upper(), plan
    assert page.locator("svg.bars rect").count() >= 1
    assert "default.flowers" in page.locator("#scans").inner_text()
    page.get_by_role("button", name="Profile (run again at the same snapshots)").click()
    page.locator("#profile-result svg.bars rect").first.wait_for(timeout=15000)
    assert "RESULT: 3 rows" in page.locator("#profile-plan").inner_text()
    page.screenshot(path=ARTIFACTS / "query.png", full_page=True)


def test_a_distributed_querys_partitions_are_a_timeline_per_worker(cluster, page):
    page.goto(cluster.observatory + "/queries?state=finished")
    page.locator("#queries tbody tr", has_text="max(x)").get_by_role("link").first.click()
    page.locator("svg.timeline").wait_for()
    assert page.locator("svg.timeline rect.task[data-what=partition]").count() >= 3
    lanes = page.locator("svg.timeline text").all_text_contents()
    assert all(worker.address in lanes for worker in cluster.workers), lanes
    page.screenshot(path=ARTIFACTS / "query-distributed.png", full_page=True)


def test_the_lake_leads_to_a_tables_snapshots(cluster, page):
    page.goto(cluster.observatory + "/lake")
    page.get_by_role("link", name="flowers").click()
    page.locator("#snapshots tbody tr").first.wait_for()
    assert page.locator("#snapshots tbody tr").first.locator("td").nth(3).inner_text() == "150"
    assert "species" in page.locator("#schema").inner_text()
    # Snapshot ids are 64-bit: shown exactly, not rounded as JavaScript numbers would be.
    with cluster.connect(False) as conn:
        snapshot = run(conn, 'SELECT snapshot_id FROM default."flowers$snapshots"').column(0).to_pylist()[-1]
    assert page.locator("#snapshots tbody tr").first.locator("td").first.inner_text() == str(snapshot)
    page.screenshot(path=ARTIFACTS / "table.png", full_page=True)
    page.locator("#query-table").click()
    page.locator("#result table tbody tr").first.wait_for(timeout=15000)
    assert page.locator("#result table tbody tr").count() == 100
    page.screenshot(path=ARTIFACTS / "console.png")


def test_the_cluster_page_charts_three_workers(cluster, page):
    page.goto(cluster.observatory + "/cluster")
    page.locator(".card.node").nth(3).wait_for(timeout=15000)
    assert page.locator(".card.node").count() == 4  # the coordinator and three workers
    assert page.locator("text=3 live worker(s)").count() == 1
    # Two charts (CPU, memory) per node, each with its samples plotted.
    page.wait_for_function("document.querySelectorAll('svg.chart polyline').length === 8", timeout=15000)
    page.wait_for_function("[...document.querySelectorAll('svg.chart')].every(c => c.querySelectorAll('circle').length >= 1)", timeout=15000)
    assert page.locator("text=tasks running 0").count() == 3
    assert page.locator(".card.node", has_text="done 0,").count() < 3  # the distributed query's partitions ran on workers
    page.screenshot(path=ARTIFACTS / "cluster.png", full_page=True)
