// WiFi state: up once the sketch calls begin(); "#HW wifi state=down" takes it down (and drops
// the MQTT connection), optionally for a while.
#include "Arduino.h"
#include "WiFi.h"
#include "host_core.h"

WiFiClass WiFi;

namespace {

bool begun = false;
bool linkUp = true;         // the access point is reachable
unsigned long upAt = 0;     // when a timed outage ends (0: not timed)

}  // namespace

int WiFiClass::begin(const char*, const char*) {
  begun = true;
  return status();
}

wl_status_t WiFiClass::status() {
  hostcore::wifiTimers();
  if (!begun) return WL_IDLE_STATUS;
  return linkUp ? WL_CONNECTED : WL_DISCONNECTED;
}

IPAddress WiFiClass::localIP() { return status() == WL_CONNECTED ? IPAddress(127, 0, 0, 1) : IPAddress(); }

bool WiFiClass::disconnect(bool) {
  begun = false;
  hostcore::dropMqttConnections();
  return true;
}

bool WiFiClass::mode(WiFiMode_t) { return true; }

namespace hostcore {

bool wifiUp() { return linkUp; }

void setWifi(bool up, long forMs) {
  linkUp = up;
  upAt = 0;
  if (!up) {
    dropMqttConnections();
    if (forMs > 0) {
      upAt = millis() + (unsigned long)forMs;
      if (upAt == 0) upAt = 1;
    }
  }
}

void wifiTimers() {
  if (upAt != 0 && (long)(millis() - upAt) >= 0) {
    upAt = 0;
    linkUp = true;
    emitLine("#HW wifi state=up");
  }
}

}  // namespace hostcore
