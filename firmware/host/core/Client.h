// Arduino's network client. On the host it is only the handle PubSubClient is given:
// the MQTT connection itself is libmosquitto's.
#pragma once

class Client {
 public:
  virtual ~Client() {}
};
