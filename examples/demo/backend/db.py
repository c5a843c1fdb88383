"""Connections shared by the api, the worker and the migration."""
import os

import psycopg2
import redis


def pg():
    return psycopg2.connect(os.environ.get("DATABASE_URL", "host=postgres dbname=demo user=postgres"))


def queue():
    return redis.Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379, decode_responses=True)


QUEUE = "jobs"
