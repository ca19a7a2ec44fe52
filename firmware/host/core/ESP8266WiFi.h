// The ESP8266 core's WiFi header: the same WiFi as WiFi.h on the host.
#pragma once

#include "WiFi.h"
