"""notes: an example Flask application made by a factory.

It keeps its data in an SQLite database in Flask's instance folder, which
must be created with ``flask --app notes init-db`` before the first request,
the way real applications run their migrations before going live.
"""

import os
import sqlite3

import click
from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
    return g.db


def close_db(_error=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


@click.command("init-db")
def init_db_command():
    """Create the notes table when it does not exist yet."""
    os.makedirs(current_app.instance_path, exist_ok=True)
    db = get_db()
    db.execute("CREATE TABLE IF NOT EXISTS note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.commit()
    click.echo(f"database ready: {current_app.config['DATABASE']}")


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DATABASE=os.path.join(app.instance_path, "notes.sqlite"))
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set: give it in the environment as FLASK_SECRET_KEY")
    hops = int(os.environ.get("NOTES_TRUSTED_HOPS", "1"))
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)

    @app.get("/")
    def index():
        count = get_db().execute("SELECT count(*) FROM note").fetchone()[0]
        return jsonify(app="notes", notes=count, client=request.remote_addr)

    @app.get("/notes")
    def list_notes():
        db = get_db()
        db.row_factory = sqlite3.Row
        notes = db.execute("SELECT id, body FROM note ORDER BY id DESC LIMIT 20").fetchall()
        total = db.execute("SELECT count(*) FROM note").fetchone()[0]
        return render_template("notes.html", notes=notes, total=total)

    @app.post("/notes")
    def add_note():
        body = request.get_data(as_text=True).strip()
        if not body:
            return jsonify(error="empty note"), 400
        db = get_db()
        db.execute("INSERT INTO note (body) VALUES (?)", (body,))
        db.commit()
        return jsonify(saved=True), 201

    @app.get("/healthz")
    def healthz():
        get_db().execute("SELECT 1 FROM note LIMIT 1")
        return jsonify(status="ok")

    return app
