// The environment's MQTT settings as the C strings and number secrets.h hands the sketches.
#pragma once

#include <stdint.h>

const char* hostcore_setting_mqtt_host();
uint16_t hostcore_setting_mqtt_port();
const char* hostcore_setting_mqtt_user();
const char* hostcore_setting_mqtt_password();
