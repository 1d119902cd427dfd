package dev.floe.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Large results from a coordinator and its workers, and cancelling one midway. */
class ClusterTest {
  private static final String BIG = "SELECT * FROM big.numbers";

  private static long drain(Connection connection, String sql) throws SQLException {
    long rows = 0;
    long sum = 0;
    try (Statement statement = connection.createStatement(); ResultSet result = statement.executeQuery(sql)) {
      while (result.next()) {
        rows++;
        sum += result.getLong("n");
      }
    }
    assertEquals(Floe.count(connection, "SELECT sum(n) FROM big.numbers"), sum);
    return rows;
  }

  /** The driver fetches every endpoint from the coordinator, which proxies the workers' partitions. */
  @Test
  void largeResultThroughTheCoordinator() throws SQLException {
    try (Connection connection = Floe.cluster()) {
      assertEquals(Floe.count(connection, "SELECT count(*) FROM big.numbers"), drain(connection, BIG));
    }
  }

  /** With direct endpoints the driver opens a connection to each worker that holds a partition. */
  @Test
  void largeResultAcrossSeveralEndpoints() throws SQLException {
    String url = Floe.url(Floe.env("FLOE_CLUSTER_ADDR"), "useEncryption=false&x-floe-endpoints=direct");
    try (Connection connection = DriverManager.getConnection(url)) {
      assertEquals(Floe.count(connection, "SELECT count(*) FROM big.numbers"), drain(connection, BIG));
    }
  }

  @Test
  void cancellingAStatementStopsItsResult() throws Exception {
    try (Connection connection = Floe.plain()) {
      Statement statement = connection.createStatement();
      ResultSet result = statement.executeQuery("SELECT * FROM big.numbers");
      assertTrue(result.next());
      CompletableFuture<Long> reader = CompletableFuture.supplyAsync(() -> {
        long read = 0;
        try {
          while (result.next()) {
            read++;
          }
        } catch (SQLException stopped) {
          return -1L;
        } catch (RuntimeException stopped) {
          // The driver surfaces a cancel that lands mid-stream as an unchecked FlightRuntimeException
          // rather than an SQLException; only that status counts as stopped.
          if (String.valueOf(stopped.getMessage()).contains("CANCELLED")) {
            return -1L;
          }
          throw stopped;
        }
        return read;
      });
      statement.cancel();
      long read = assertDoesNotHang(reader);
      assertTrue(read < Floe.count(connection, "SELECT count(*) FROM big.numbers"), "read " + read);
      statement.close();
      assertEquals(150, Floe.count(connection, "SELECT count(*) FROM default.flowers"));
    }
  }

  private static long assertDoesNotHang(CompletableFuture<Long> reader) throws Exception {
    return reader.get(60, TimeUnit.SECONDS);
  }
}
