#pragma once

#include "Client.h"

class WiFiClient : public Client {};
