package dev.floe.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.math.BigDecimal;
import java.sql.Date;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Time;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** PreparedStatement parameters of every type a JDBC setter binds. */
class ParameterTest extends PlainConnection {

  @FunctionalInterface
  interface Binder {
    void bind(PreparedStatement statement) throws SQLException;
  }


  private static List<Long> ids(String condition, Binder binder) throws SQLException {
    List<Long> ids = new ArrayList<>();
    try (PreparedStatement statement = connection.prepareStatement("SELECT id FROM jdbc.types WHERE " + condition + " ORDER BY id")) {
      binder.bind(statement);
      try (ResultSet rows = statement.executeQuery()) {
        while (rows.next()) {
          ids.add(rows.getLong(1));
        }
      }
    }
    return ids;
  }

  @Test
  void everySetterFindsTheRowItDescribes() throws SQLException {
    List<Long> first = List.of(1L);
    assertEquals(first, ids("b = ?", s -> s.setBoolean(1, true)));
    assertEquals(first, ids("i = ?", s -> s.setInt(1, 42)));
    assertEquals(first, ids("i = ?", s -> s.setObject(1, 42)));
    assertEquals(first, ids("l = ?", s -> s.setLong(1, 9_000_000_000L)));
    assertEquals(first, ids("f = ?", s -> s.setFloat(1, 1.5f)));
    assertEquals(first, ids("d = ?", s -> s.setDouble(1, 2.25)));
    assertEquals(first, ids("dec = ?", s -> s.setBigDecimal(1, new BigDecimal("1234.56"))));
    assertEquals(first, ids("dt = ?", s -> s.setDate(1, Date.valueOf("2024-02-29"))));
    assertEquals(first, ids("s = ?", s -> s.setString(1, "héllo")));
    assertEquals(first, ids("s LIKE ?", s -> s.setString(1, "h%")));
    assertEquals(first, ids("bin = ?", s -> s.setBytes(1, new byte[] {0, (byte) 0xff})));
    assertEquals(first, ids("ts > ?", s -> s.setTimestamp(1, Timestamp.valueOf("2024-02-29 12:00:00"))));
    assertEquals(List.of(), ids("ts > ?", s -> s.setTimestamp(1, Timestamp.valueOf("2024-02-29 13:00:00"))));
    assertEquals(first, ids("t > ?", s -> s.setTime(1, Time.valueOf("12:00:00"))));
    assertEquals(first, ids("i IN (?, ?)", s -> {
      s.setInt(1, 7);
      s.setInt(2, 42);
    }));
    assertEquals(first, ids("l BETWEEN ? AND ?", s -> {
      s.setLong(1, 1);
      s.setLong(2, 10_000_000_000L);
    }));
    assertEquals(List.of(), ids("i = ?", s -> s.setNull(1, Types.INTEGER)));
  }

  @Test
  void parameterMetadataNamesTheTypes() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT id FROM jdbc.types WHERE i = ? AND s = ? AND d > ? LIMIT ?")) {
      ParameterMetaData meta = statement.getParameterMetaData();
      assertEquals(4, meta.getParameterCount());
      assertEquals(Types.BIGINT, meta.getParameterType(1));
      assertEquals(Types.VARCHAR, meta.getParameterType(2));
      assertEquals(Types.DOUBLE, meta.getParameterType(3));
      assertEquals(Types.BIGINT, meta.getParameterType(4));
    }
  }

  @Test
  void reexecutesWithNewValues() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT count(*) FROM default.flowers WHERE sepal_length > ?")) {
      for (double bound : new double[] {4.0, 5.8, 7.5}) {
        statement.setDouble(1, bound);
        try (ResultSet rows = statement.executeQuery()) {
          rows.next();
          assertEquals(Floe.count(connection, "SELECT count(*) FROM default.flowers WHERE sepal_length > " + bound), rows.getLong(1));
        }
      }
    }
  }
}
