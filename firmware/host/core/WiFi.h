// WiFi for the host: connects at once; a control line can take it down and bring it back.
#pragma once

#include <stdint.h>

#include "Arduino.h"
#include "IPAddress.h"
#include "WiFiClient.h"

typedef enum {
  WL_IDLE_STATUS = 0,
  WL_NO_SSID_AVAIL = 1,
  WL_SCAN_COMPLETED = 2,
  WL_CONNECTED = 3,
  WL_CONNECT_FAILED = 4,
  WL_CONNECTION_LOST = 5,
  WL_DISCONNECTED = 6,
} wl_status_t;

typedef enum { WIFI_OFF = 0, WIFI_STA = 1, WIFI_AP = 2, WIFI_AP_STA = 3 } WiFiMode_t;

class WiFiClass {
 public:
  int begin(const char* ssid, const char* passphrase = NULL);
  wl_status_t status();
  IPAddress localIP();
  bool disconnect(bool wifiOff = false);
  bool mode(WiFiMode_t mode);
  bool isConnected() { return status() == WL_CONNECTED; }
  int32_t RSSI() { return status() == WL_CONNECTED ? -50 : 0; }
  String macAddress() { return String("02:00:00:00:00:01"); }
  bool setAutoReconnect(bool) { return true; }
};

extern WiFiClass WiFi;
