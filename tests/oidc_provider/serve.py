"""Run the test OpenID provider: `python -m tests.oidc_provider.serve PORT STATE_DIR REDIRECT_URI`.

Creates the SQLite database, an RSA signing key, one confidential client and the
people of the IdP directory (see USERS), then serves until killed."""

import os
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

CLIENT_ID = "sarcopenia-platform"
CLIENT_SECRET = "test-client-secret-0123456789"
PASSWORD = "idp-password-0123"
# username, e-mail, groups
USERS = [
    ("alice", "alice@nvh.example", ["radiology-nvh"]),
    ("bob", "bob@rmc.example", ["research"]),
    ("mallory", "mallory@elsewhere.example", []),
]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _setup(state_dir: Path, redirect_uri: str) -> None:
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    for username, email, groups in USERS:
        user = User.objects.create_user(username, email, PASSWORD, first_name=username.title())
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
    Application.objects.create(
        name="platform",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )


def main() -> None:
    port, state_dir, redirect_uri = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (state_dir / "op_key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.environ["OP_STATE_DIR"] = str(state_dir)
    os.environ["OP_BASE_URL"] = f"http://127.0.0.1:{port}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django

    django.setup()
    _setup(state_dir, redirect_uri)
    from django.core.wsgi import get_wsgi_application

    server = make_server(
        "127.0.0.1", port, get_wsgi_application(), server_class=_Server, handler_class=_QuietHandler
    )
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
