package dev.floe.jdbc;

import java.sql.Connection;
import java.sql.SQLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** One connection to the plain server, shared by a test class's tests. */
abstract class PlainConnection {
  static Connection connection;

  @BeforeAll
  static void connect() throws SQLException {
    connection = Floe.plain();
  }

  @AfterAll
  static void disconnect() throws SQLException {
    connection.close();
  }
}
