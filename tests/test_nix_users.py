"""User accounts in images (`users`, `user`; build-image/users.nix): the
account files, homes owned by their users, /tmp, config.User, the checks of
the arguments, and the image run in podman as its user."""

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from nix_support import NIX_OPTIONS, REPO, built_repo, nix_environment
from podman_support import loaded, needs_podman, run

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

USERS = [
    {"name": "app", "uid": 1000, "description": "the app"},
    {"name": "worker", "uid": 2000, "gid": 1000, "group": "app", "home": "/var/lib/worker", "shell": "/bin/ash"},
]




class Archive:
    """A `docker load` archive: its config and its top layer's members."""

    def __init__(self, path):
        self.path = path
        with tarfile.open(path) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))[0]
            self.config = json.load(archive.extractfile(manifest["Config"]))
            top = tarfile.open(fileobj=archive.extractfile(manifest["Layers"][-1]))
            self.members = {m.name.rstrip("/"): m for m in top.getmembers()}
            self.files = {name: top.extractfile(m).read().decode()
                          for name, m in self.members.items() if m.isfile()}


@pytest.fixture(scope="module")
def users_image():
    return Archive(built_repo("-A", "image", "--argstr", "packages", '["busybox"]', "--argstr", "name", "users",
                         "--argstr", "users", json.dumps(USERS)))


@pytest.fixture(scope="module")
def user_image():
    return Archive(built_repo("-A", "image", "--argstr", "packages", '["busybox"]', "--argstr", "name", "user",
                         "--argstr", "user", "app"))


def test_account_files(users_image):
    files = users_image.files
    assert files["etc/passwd"] == ("root:x:0:0:root:/root:/bin/sh\n"
                                   "app:x:1000:1000:the app:/home/app:/bin/sh\n"
                                   "worker:x:2000:1000::/var/lib/worker:/bin/ash\n")
    assert files["etc/group"] == "root:x:0:\napp:x:1000:app,worker\n"
    # Locked: no password hash, so no password logs in.
    assert files["etc/shadow"] == "root:!:1::::::\napp:!:1::::::\nworker:!:1::::::\n"
    assert users_image.members["etc/shadow"].mode == 0o640


def test_homes_belong_to_their_users_and_tmp_is_sticky(users_image):
    members = users_image.members
    assert (members["home/app"].uid, members["home/app"].gid) == (1000, 1000)
    assert (members["var/lib/worker"].uid, members["var/lib/worker"].gid) == (2000, 1000)
    # The rest of the layer keeps its owner (uid, gid: root by default).
    for name in ("home", "var/lib", "etc/passwd", "tmp"):
        assert (members[name].uid, members[name].gid) == (0, 0), name
    assert members["tmp"].mode == 0o1777 and members["tmp"].isdir()


def test_config_user_is_the_first_user_unless_given(users_image, user_image):
    assert users_image.config["config"]["User"] == "1000:1000"
    assert user_image.config["config"]["User"] == "1000:1000"
    assert user_image.files["etc/passwd"].splitlines()[1] == "app:x:1000:1000::/home/app:/bin/sh"
    given = Archive(built_repo("-A", "image", "--argstr", "packages", '["busybox"]', "--argstr", "user", "app",
                          "--argstr", "config", '{"User": "0"}'))
    assert given.config["config"]["User"] == "0"


def test_no_users_no_account_files():
    plain = Archive(built_repo("-A", "image", "--argstr", "packages", '["busybox"]'))
    assert "etc/passwd" not in plain.members and "User" not in plain.config["config"]


@needs_podman
def test_runs_as_its_user_in_podman(users_image):
    with loaded(users_image.path) as image:
        status, out, err = run(image, 'id -u; id -un; echo "$HOME"; touch ~/written && echo home-writable; '
                                      'touch /nix/store/x || echo store-read-only; touch /tmp/t && echo tmp-ok')
        assert status == 0, err
        assert out.split() == ["1000", "app", "/home/app", "home-writable", "store-read-only", "tmp-ok"]
        status, out, err = run(image, "id -u; touch /home/app/x || echo not-its-home", "--user", "worker")
        assert out.split() == ["2000", "not-its-home"], err


# (case id, arguments, text of the error)
REFUSED = [
    ("both", ["--argstr", "user", "app", "--argstr", "users", '[{"name":"b","uid":5}]'],
     "group-layers: users and user are both given: use one"),
    ("uid-0", ["--argstr", "users", '[{"name":"app","uid":0}]'],
     "group-layers: users[0].uid is 0, it must be an integer from 1 to 4294967294"),
    ("uid-word", ["--argstr", "users", '[{"name":"app","uid":"x"}]'],
     'group-layers: users[0].uid is "x", it must be an integer from 1 to 4294967294'),
    ("gid-too-big", ["--argstr", "users", '[{"name":"app","uid":1,"gid":4294967295}]'],
     "group-layers: users[0].gid is 4294967295, it must be an integer from 1 to 4294967294"),
    ("no-uid", ["--argstr", "users", '[{"name":"app"}]'], 'group-layers: users[0] ("app") has no uid'),
    ("root", ["--argstr", "user", "root"], 'group-layers: users[0].name is "root", it must be a user name other'),
    ("upper", ["--argstr", "users", '[{"name":"App","uid":5}]'], 'group-layers: users[0].name is "App"'),
    ("unknown-key", ["--argstr", "users", '[{"name":"a","uid":5,"password":"x"}]'],
     'group-layers: users[0] has unknown key "password"'),
    ("home-dotdot", ["--argstr", "users", '[{"name":"a","uid":5,"home":"/home/../etc"}]'],
     'group-layers: users[0].home is "/home/../etc", it must be an absolute path'),
    ("same-uid", ["--argstr", "users", '[{"name":"a","uid":5},{"name":"b","uid":5}]'],
     "group-layers: users: two users have the same uid"),
    ("group-two-gids", ["--argstr", "users", '[{"name":"a","uid":5,"group":"g"},{"name":"b","uid":6,"group":"g"}]'],
     "group-layers: users: two users have the same group (a group has one gid, a gid one group)"),
    ("not-json", ["--argstr", "users", "app"], 'group-layers: users is not valid JSON: "app"'),
    ("not-list", ["--argstr", "users", '{"name":"a"}'], "group-layers: users is {\"name\":\"a\"}, it must be a list"),
]


@pytest.mark.parametrize("args,message", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_bad_users_are_refused_naming_them(tmp_path, args, message):
    proc = subprocess.run(["nix-build", *NIX_OPTIONS, str(REPO), "-A", "image",
                           "--argstr", "packages", '["busybox"]', *args],
                          cwd=tmp_path, env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert not any(Path(tmp_path).iterdir())
