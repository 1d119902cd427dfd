package dev.floe.jdbc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

/** executeUpdate and executeBatch for DDL and DML, with the counts JDBC expects. */
class UpdateTest {
  @Test
  void ddlAndDmlReturnTheirCounts() throws SQLException {
    try (Connection connection = Floe.plain(); Statement statement = connection.createStatement()) {
      statement.executeUpdate("DROP TABLE IF EXISTS jdbc.written");
      assertEquals(0, statement.executeUpdate("CREATE TABLE jdbc.written (k BIGINT, v VARCHAR)"));
      assertEquals(3, statement.executeUpdate("INSERT INTO jdbc.written VALUES (1, 'a'), (2, 'b'), (3, 'c')"));
      assertEquals(2, statement.executeUpdate("UPDATE jdbc.written SET v = 'z' WHERE k >= 2"));
      assertEquals(1, statement.executeUpdate("DELETE FROM jdbc.written WHERE k = 1"));
      try (PreparedStatement insert = connection.prepareStatement("INSERT INTO jdbc.written VALUES (?, ?)")) {
        insert.setLong(1, 10);
        insert.setString(2, "ten");
        assertEquals(1, insert.executeUpdate());
      }
      assertEquals(3, Floe.count(connection, "SELECT count(*) FROM jdbc.written"));
      assertEquals(1, Floe.count(connection, "SELECT count(*) FROM jdbc.written WHERE v = 'ten'"));
      assertEquals(2, Floe.count(connection, "SELECT count(*) FROM jdbc.written WHERE v = 'z'"));
      assertEquals(0, statement.executeUpdate("DROP TABLE jdbc.written"));
    }
  }

  @Test
  void batchedInsertsAllLand() throws SQLException {
    try (Connection connection = Floe.plain(); Statement statement = connection.createStatement()) {
      statement.executeUpdate("DROP TABLE IF EXISTS jdbc.batched");
      statement.executeUpdate("CREATE TABLE jdbc.batched (k BIGINT, v VARCHAR)");
      try (PreparedStatement insert = connection.prepareStatement("INSERT INTO jdbc.batched VALUES (?, ?)")) {
        for (int k = 0; k < 5; k++) {
          insert.setLong(1, k);
          insert.setString(2, "v" + k);
          insert.addBatch();
        }
        int[] counts = insert.executeBatch();
        assertEquals(5, java.util.Arrays.stream(counts).sum());
      }
      assertEquals(5, Floe.count(connection, "SELECT count(*) FROM jdbc.batched"));
      assertEquals(10, Floe.count(connection, "SELECT sum(k) FROM jdbc.batched"));
      assertFalse(statement.execute("DROP TABLE jdbc.batched"));
    }
  }

  @Test
  void writesAreRefusedWithoutTheRight() {
    // The read-only principal of the TLS server may query but not write.
    String url = Floe.tlsUrl("&token=" + Floe.env("FLOE_READER_TOKEN"));
    SQLException refused = org.junit.jupiter.api.Assertions.assertThrows(SQLException.class, () -> {
      try (Connection connection = java.sql.DriverManager.getConnection(url); Statement statement = connection.createStatement()) {
        assertEquals(150, Floe.count(connection, "SELECT count(*) FROM default.flowers"));
        statement.executeUpdate("CREATE TABLE default.not_allowed (k BIGINT)");
      }
    });
    String message = String.valueOf(refused.getMessage()) + refused.getCause();
    assertArrayEquals(new boolean[] {true}, new boolean[] {message.toLowerCase().contains("permission") || message.toLowerCase().contains("denied")}, message);
  }
}
