// Copy to secrets.h (not committed) and fill in. Both sketches include it.
#pragma once
#define ALERTLOOP_WIFI_SSID "my_wifi_ssid"
#define ALERTLOOP_WIFI_PASSWORD "my_wifi_password"
#define ALERTLOOP_MQTT_HOST "192.168.1.111"
#define ALERTLOOP_MQTT_PORT 1883
#define ALERTLOOP_MQTT_USER ""      // empty: anonymous
#define ALERTLOOP_MQTT_PASSWORD ""
