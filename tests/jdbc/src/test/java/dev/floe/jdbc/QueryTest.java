package dev.floe.jdbc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** Statements and every Iceberg type read back through ResultSet getters. */
class QueryTest extends PlainConnection {


  @Test
  void seedQuery() throws SQLException {
    String sql = "SELECT species, avg(sepal_length) AS mean FROM default.flowers GROUP BY species ORDER BY species";
    try (Statement statement = connection.createStatement(); ResultSet rows = statement.executeQuery(sql)) {
      assertEquals("species", rows.getMetaData().getColumnName(1));
      assertTrue(rows.next());
      assertEquals("setosa", rows.getString("species"));
      double setosa = rows.getDouble("mean");
      assertEquals(Floe.count(connection, "SELECT count(DISTINCT species) FROM default.flowers"), 3);
      double expected = sum("setosa") / Floe.count(connection, "SELECT count(*) FROM default.flowers WHERE species = 'setosa'");
      assertEquals(expected, setosa, 1e-9);
      assertTrue(rows.next());
      assertTrue(rows.next());
      assertFalse(rows.next());
    }
  }

  private static double sum(String species) throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT sepal_length FROM default.flowers WHERE species = '" + species + "'")) {
      double total = 0;
      while (rows.next()) {
        total += rows.getDouble(1);
      }
      return total;
    }
  }

  @Test
  void everyIcebergTypeThroughItsGetter() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT * FROM jdbc.types ORDER BY id")) {
      assertTrue(rows.next());
      assertEquals(1L, rows.getLong("id"));
      assertTrue(rows.getBoolean("b"));
      assertEquals(42, rows.getInt("i"));
      assertEquals(9_000_000_000L, rows.getLong("l"));
      assertEquals(1.5f, rows.getFloat("f"));
      assertEquals(2.25, rows.getDouble("d"));
      assertEquals(new BigDecimal("1234.56"), rows.getBigDecimal("dec"));
      assertEquals(LocalDate.of(2024, 2, 29), rows.getDate("dt").toLocalDate());
      // java.sql.Time keeps milliseconds: 12:34:56.789 as milliseconds of the day.
      assertEquals(((12 * 60 + 34) * 60 + 56) * 1000L + 789, rows.getTime("t").getTime());
      assertEquals(LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789_012_000), rows.getTimestamp("ts").toLocalDateTime());
      assertEquals(Instant.parse("2024-02-29T12:34:56.789012Z"), rows.getTimestamp("tstz").toInstant());
      assertEquals("héllo", rows.getString("s"));
      UUID uuid = UUID.fromString("12345678-1234-5678-1234-567812345678");
      ByteBuffer uuidBytes = ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
      assertArrayEquals(uuidBytes.array(), rows.getBytes("u"));
      assertArrayEquals(new byte[] {1, 2, 3, 4}, rows.getBytes("fx"));
      assertArrayEquals(new byte[] {0, (byte) 0xff}, rows.getBytes("bin"));
      Object[] tags = (Object[]) rows.getArray("tags").getArray();
      assertEquals(2, tags.length);
      assertEquals("a", String.valueOf(tags[0]));
      assertEquals("b", String.valueOf(tags[1]));
      String point = String.valueOf(rows.getObject("point"));
      assertTrue(point.contains("\"x\":1.0") && point.contains("\"y\":2.0"), point);
      String attrs = String.valueOf(rows.getObject("attrs"));
      assertTrue(attrs.contains("k") && attrs.contains("1"), attrs);

      assertTrue(rows.next());
      assertEquals(2L, rows.getLong("id"));
      for (String column : new String[] {"b", "i", "l", "f", "d", "dec", "dt", "t", "ts", "tstz", "s", "u", "fx", "bin", "tags", "point", "attrs"}) {
        assertNull(rows.getObject(column), column);
        assertTrue(rows.wasNull(), column);
      }
      assertFalse(rows.next());
    }
  }

  @Test
  void resultColumnsAreDescribed() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT id, dec, s, ts FROM jdbc.types")) {
      ResultSetMetaData meta = rows.getMetaData();
      assertEquals(4, meta.getColumnCount());
      assertEquals(java.sql.Types.BIGINT, meta.getColumnType(1));
      assertEquals(java.sql.Types.DECIMAL, meta.getColumnType(2));
      assertEquals(10, meta.getPrecision(2));
      assertEquals(2, meta.getScale(2));
      assertEquals(java.sql.Types.VARCHAR, meta.getColumnType(3));
      assertTrue(meta.isCaseSensitive(3));
      assertTrue(meta.isReadOnly(1));
      assertTrue(meta.isSearchable(1));
      assertFalse(meta.isAutoIncrement(1));
      assertEquals(java.sql.Types.TIMESTAMP, meta.getColumnType(4));
      assertEquals(6, meta.getScale(4));
    }
  }

  /** What a SQL console (sqlline, DBeaver's editor) types to look around, through the driver's prepared statements. */
  @Test
  void consoleCommandsListAndDescribe() throws SQLException {
    try (Statement statement = connection.createStatement()) {
      try (ResultSet rows = statement.executeQuery("SHOW TABLES FROM jdbc LIKE 'typ%'")) {
        assertTrue(rows.next());
        assertEquals("jdbc", rows.getString("schema"));
        assertEquals("types", rows.getString("name"));
        assertFalse(rows.next());
      }
      try (ResultSet rows = statement.executeQuery("DESCRIBE jdbc.types")) {
        java.util.Map<String, String> types = new java.util.HashMap<>();
        while (rows.next()) {
          types.put(rows.getString("column_name"), rows.getString("column_type"));
        }
        assertEquals("BIGINT", types.get("id"));
        assertEquals("DECIMAL(10,2)", types.get("dec"));
        assertEquals("VARCHAR", types.get("s"));
      }
      try (ResultSet rows = statement.executeQuery("SHOW SCHEMAS LIKE 'jd%'")) {
        assertTrue(rows.next());
        assertEquals("jdbc", rows.getString("schema"));
        assertFalse(rows.next());
      }
    }
  }

  @Test
  void errorsNameTheProblem() {
    SQLException error = org.junit.jupiter.api.Assertions.assertThrows(SQLException.class, () -> {
      try (Statement statement = connection.createStatement()) {
        statement.executeQuery("SELECT no_such_column FROM default.flowers").close();
      }
    });
    assertTrue(error.getMessage().contains("no_such_column"), error.getMessage());
  }
}
