package dev.floe.jdbc;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** The servers tests/python/test_jdbc.py started, read from FLOE_* variables. */
final class Floe {
  private Floe() {}

  /** The JDBC driver's major version, as Maven was asked to test it. */
  static int driverMajor() {
    return Integer.parseInt(System.getProperty("driver.version", "0").split("\\.")[0]);
  }

  static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalStateException(name + " is not set: run these tests through tests/python/test_jdbc.py");
    }
    return value;
  }

  /** A URL as a user writes it; `extra` is `key=value&...`. */
  static String url(String address, String extra) {
    return "jdbc:arrow-flight-sql://" + address + "/?" + extra;
  }

  static Connection plain() throws SQLException {
    return DriverManager.getConnection(url(env("FLOE_ADDR"), "useEncryption=false"));
  }

  static Connection cluster() throws SQLException {
    return DriverManager.getConnection(url(env("FLOE_CLUSTER_ADDR"), "useEncryption=false"));
  }

  static String tlsUrl(String credentials) {
    return url(env("FLOE_TLS_ADDR"), "useEncryption=true&tlsRootCerts=" + env("FLOE_TLS_CA") + credentials);
  }

  static long count(Connection connection, String sql) throws SQLException {
    try (Statement statement = connection.createStatement(); ResultSet rows = statement.executeQuery(sql)) {
      rows.next();
      return rows.getLong(1);
    }
  }

  /** The first column of every row, as strings. */
  static List<String> column(ResultSet rows, String name) throws SQLException {
    List<String> values = new ArrayList<>();
    try (rows) {
      while (rows.next()) {
        values.add(rows.getString(name));
      }
    }
    return values;
  }
}
