// secrets.h of the host build: the sketches read their settings from here, and here they
// come from the environment (firmware/host/README.md). The boards use include/secrets.h.
#pragma once

#include "host_settings.h"

#define ALERTLOOP_WIFI_SSID "alertloop-host"
#define ALERTLOOP_WIFI_PASSWORD ""
#define ALERTLOOP_MQTT_HOST (hostcore_setting_mqtt_host())
#define ALERTLOOP_MQTT_PORT (hostcore_setting_mqtt_port())
#define ALERTLOOP_MQTT_USER (hostcore_setting_mqtt_user())
#define ALERTLOOP_MQTT_PASSWORD (hostcore_setting_mqtt_password())
