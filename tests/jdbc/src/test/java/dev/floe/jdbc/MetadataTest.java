package dev.floe.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** DatabaseMetaData as DBeaver's navigator and DataGrip's introspection call it. */
class MetadataTest extends PlainConnection {
  private static DatabaseMetaData meta;

  @BeforeAll
  static void readMetadata() throws SQLException {
    meta = connection.getMetaData();
  }

  @Test
  void catalogsSchemasAndTables() throws SQLException {
    assertEquals(List.of("floe"), Floe.column(meta.getCatalogs(), "TABLE_CAT"));
    List<String> schemas = Floe.column(meta.getSchemas("floe", "%"), "TABLE_SCHEM");
    assertTrue(schemas.containsAll(List.of("default", "jdbc")), schemas.toString());
    assertEquals(List.of("jdbc"), Floe.column(meta.getSchemas(null, "jd%"), "TABLE_SCHEM"));
    assertEquals(List.of("TABLE"), Floe.column(meta.getTableTypes(), "TABLE_TYPE"));
    List<String> tables = Floe.column(meta.getTables("floe", "jdbc", "%", new String[] {"TABLE"}), "TABLE_NAME");
    assertTrue(tables.contains("types"), tables.toString());
    assertEquals(tables, Floe.column(meta.getTables(null, "jdbc", "%", null), "TABLE_NAME"));
    assertEquals(List.of(), Floe.column(meta.getTables(null, "jdbc", "%", new String[] {"VIEW"}), "TABLE_NAME"));
    assertEquals(List.of("types"), Floe.column(meta.getTables(null, "jdbc", "ty_es", null), "TABLE_NAME"));
  }

  @Test
  void columnsWithTypesNullabilityAndRemarks() throws SQLException {
    List<String> names = new ArrayList<>();
    try (ResultSet columns = meta.getColumns(null, "jdbc", "types", "%")) {
      while (columns.next()) {
        String name = columns.getString("COLUMN_NAME");
        names.add(name);
        assertEquals(names.size(), columns.getInt("ORDINAL_POSITION"));
        assertEquals("NO", columns.getString("IS_AUTOINCREMENT"), name);
        switch (name) {
          case "id" -> {
            assertEquals("BIGINT", columns.getString("TYPE_NAME"));
            assertEquals(java.sql.Types.BIGINT, columns.getInt("DATA_TYPE"));
            assertEquals(DatabaseMetaData.columnNoNulls, columns.getInt("NULLABLE"));
            assertEquals("NO", columns.getString("IS_NULLABLE"));
          }
          case "dec" -> {
            assertEquals("DECIMAL", columns.getString("TYPE_NAME"));
            assertEquals(10, columns.getInt("COLUMN_SIZE"));
            assertEquals(2, columns.getInt("DECIMAL_DIGITS"));
            assertEquals(DatabaseMetaData.columnNullable, columns.getInt("NULLABLE"));
          }
          case "s" -> {
            assertEquals("VARCHAR", columns.getString("TYPE_NAME"));
            // Drivers before 18 do not read column remarks (apache/arrow-java#737).
            assertEquals(Floe.driverMajor() >= 18 ? "free text" : null, columns.getString("REMARKS"));
          }
          case "tstz" -> assertEquals("TIMESTAMP WITH TIME ZONE", columns.getString("TYPE_NAME"));
          default -> { }
        }
      }
    }
    assertEquals(List.of("id", "b", "i", "l", "f", "d", "dec", "dt", "t", "ts", "tstz", "s", "u", "fx", "bin", "tags", "point", "attrs"), names);
    assertEquals(List.of("d", "dec", "dt"), Floe.column(meta.getColumns(null, "jdbc", "types", "d%"), "COLUMN_NAME"));
  }

  @Test
  void keysOfTheIdentifierFields() throws SQLException {
    assertEquals(List.of("id"), Floe.column(meta.getPrimaryKeys(null, "jdbc", "types"), "COLUMN_NAME"));
    assertEquals(List.of(), Floe.column(meta.getImportedKeys(null, "jdbc", "types"), "FKCOLUMN_NAME"));
    assertEquals(List.of(), Floe.column(meta.getExportedKeys(null, "jdbc", "types"), "FKCOLUMN_NAME"));
  }

  @Test
  void sqlDialectFacts() throws SQLException {
    assertEquals("\"", meta.getIdentifierQuoteString());
    assertTrue(meta.getSQLKeywords().contains("SELECT"));
    assertEquals("\\", meta.getSearchStringEscape());
    assertTrue(meta.supportsConvert());
    assertFalse(meta.supportsTransactions());
    assertTrue(meta.supportsFullOuterJoins());
    assertTrue(meta.supportsUnionAll());
    assertFalse(meta.supportsCorrelatedSubqueries());
    assertEquals("Floe", meta.getDatabaseProductName());
    assertTrue(meta.supportsGroupBy());
    assertTrue(meta.supportsBatchUpdates());
    assertTrue(meta.getNumericFunctions().contains("abs"));
    assertEquals(java.sql.Connection.TRANSACTION_NONE, meta.getDefaultTransactionIsolation());
  }

  /** The driver throws NullPointerException for any GetSqlInfo id the server leaves out. */
  @Test
  void everyMetadataMethodWithoutArgumentsAnswers() throws Exception {
    List<String> failures = new ArrayList<>();
    for (Method method : DatabaseMetaData.class.getMethods()) {
      if (method.getParameterCount() != 0) {
        continue;
      }
      try {
        Object value = method.invoke(meta);
        if (value instanceof ResultSet rows) {
          rows.close();
        }
      } catch (InvocationTargetException e) {
        Throwable cause = e.getCause();
        if (!(cause instanceof java.sql.SQLFeatureNotSupportedException)) {
          failures.add(method.getName() + ": " + cause);
        }
      }
    }
    assertEquals(List.of(), failures);
  }
}
