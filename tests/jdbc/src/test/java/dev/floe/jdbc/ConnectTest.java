package dev.floe.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import org.junit.jupiter.api.Test;

/** Connecting as DBeaver's connection dialog does: plain, TLS, token, user and password. */
class ConnectTest {
  private static final String FLOWERS = "SELECT count(*) FROM default.flowers";

  @Test
  void plainConnection() throws SQLException {
    try (Connection connection = Floe.plain()) {
      assertEquals(150, Floe.count(connection, FLOWERS));
      assertTrue(connection.isValid(5));
    }
  }

  @Test
  void tlsWithBearerToken() throws SQLException {
    try (Connection connection = DriverManager.getConnection(Floe.tlsUrl("&token=" + Floe.env("FLOE_TOKEN")))) {
      assertEquals(150, Floe.count(connection, FLOWERS));
    }
  }

  @Test
  void tlsWithUserAndPassword() throws SQLException {
    String login = "&user=" + Floe.env("FLOE_USER") + "&password=" + Floe.env("FLOE_PASSWORD");
    try (Connection connection = DriverManager.getConnection(Floe.tlsUrl(login))) {
      assertEquals(150, Floe.count(connection, FLOWERS));
    }
  }

  @Test
  void wrongPasswordIsRefused() {
    String login = "&user=" + Floe.env("FLOE_USER") + "&password=not-the-password";
    SQLException refused = assertThrows(SQLException.class, () -> DriverManager.getConnection(Floe.tlsUrl(login)).close());
    assertTrue(String.valueOf(refused.getMessage()).toLowerCase().contains("unauthenticated")
        || String.valueOf(refused.getCause()).toLowerCase().contains("unauthenticated"), refused.toString());
  }

  @Test
  void noCredentialsIsRefused() {
    assertThrows(SQLException.class, () -> {
      try (Connection connection = DriverManager.getConnection(Floe.tlsUrl(""))) {
        Floe.count(connection, FLOWERS);
      }
    });
  }

  @Test
  void untrustedCertificateIsRefused() {
    String url = Floe.url(Floe.env("FLOE_TLS_ADDR"), "useEncryption=true&token=" + Floe.env("FLOE_TOKEN"));
    assertThrows(SQLException.class, () -> {
      try (Connection connection = DriverManager.getConnection(url)) {
        Floe.count(connection, FLOWERS);
      }
    });
  }
}
