"""``alertloop deploy``: writes a ready-to-run deploy directory (settings, secrets, configs).

``init_deploy`` is the library entry; ``cli.main`` is the command. The modules, one job each:
``credentials.py`` (random secrets and mosquitto's password file), ``envfile.py`` (``.env``
lines that Compose and systemd read literally), ``layout.py`` (what a deploy directory holds),
``writer.py`` (writing it with the right modes, refusing to overwrite), ``cli.py``.
"""

from alertloop.services.deploy.errors import DeployError, DeployExistsError
from alertloop.services.deploy.layout import MQTT_USERS, DeployOptions
from alertloop.services.deploy.writer import InitReport, init_deploy

__all__ = [
    "MQTT_USERS",
    "DeployError",
    "DeployExistsError",
    "DeployOptions",
    "InitReport",
    "init_deploy",
]
