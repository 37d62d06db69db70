"""meterbench meters: the meter-type library, vendor shipment files, and manifests.

    meterbench meters types [--types DIR]
    meterbench meters import SHIPMENT.csv --map MAP.toml --out manifest.csv [--positions N] [--types DIR]
    meterbench meters check manifest.csv [--types DIR]

``types`` lists the meter types a manifest's ``meter_type`` column (or a scanned serial matching a type's
serial pattern) can refer to: the shipped EXAMPLES plus the shop's own (``--types`` or MB_METER_TYPES).
``import`` turns the CSV a vendor ships with a batch of meters into manifests of N positions (one per
board) through a column map; every bad row is reported on its own line, naming the row and the column, and
nothing is written while any row is bad. ``check`` loads a manifest as a run would and prints its meters.
"""

from __future__ import annotations

import argparse
import sys

ORDER = 25


def _types(args):
    from procedures.metertypes import load_meter_types

    return load_meter_types(args.types) if args.types else load_meter_types()


def _list_types(args) -> int:
    for mt in sorted(_types(args).values(), key=lambda t: t.id):
        current = mt.current_class or "/".join(
            f"{k} {v:g} A" for k, v in (("Ib", mt.ib_a), ("In", mt.in_a), ("Imax", mt.imax_a)) if v
        )
        flag = "  [EXAMPLE, not vendor data]" if mt.example else ""
        print(
            f"{mt.id}: {mt.manufacturer} {mt.model}, form {mt.form}, class {mt.accuracy_class}, {current}, "
            f"{mt.voltage_v:g} V, Kh {mt.kh:g}, Kt {mt.kt:g}, register {mt.register_digits} digits "
            f"({mt.register_resolution_kwh:g} kWh), optical port {mt.optical_protocol}{flag}"
        )
        print(f"    source: {mt.source}")
    return 0


def _import(args) -> int:
    from bench.shipment import load_map, manifests, read_shipment, write_manifests

    mapping = load_map(args.map)
    shipment = read_shipment(
        args.file, mapping, types=_types(args)
    )  # every row checked before any is written
    if shipment.errors:
        for err in shipment.errors:
            print(f"meterbench meters import: error: {err}", file=sys.stderr)
        print(
            f"meterbench meters import: {len(shipment.errors)} bad row(s); nothing written", file=sys.stderr
        )
        return 2
    types = _types(args)
    paths = write_manifests(manifests(shipment.rows, args.positions, types=types), args.out)
    for path in paths:
        print(f"wrote {path}")
    print(
        f"{len(shipment.rows)} meter(s) from {shipment.source} in {len(paths)} manifest(s), one form a board, up to "
        f"{args.positions} positions; load one with: meterbench run --meters {paths[0]} ..."
    )
    return 0


def _check(args) -> int:
    from bench.meters import load_manifest

    meters = load_manifest(args.manifest, types=_types(args))
    for m in meters:
        typed = f" (type {m.meter_type})" if m.meter_type else ""
        print(
            f"{m.position:>2} {m.serial}: {m.manufacturer} {m.model} form {m.form} class {m.accuracy_class} "
            f"{m.current_class or ''} Kh {m.kh:g} Kt {m.kt:g}{typed}".replace("  ", " ")
        )
        for fld, was, now in m.corrections:
            print(f"   {fld}: {now} (the type says {was})")
    print(f"{len(meters)} meter(s), manifest OK")
    return 0


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "meters",
        help="meter types, vendor shipment import, manifest check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="meters_command", metavar="ACTION", parser_class=type(p), required=True)

    def types_option(q):
        q.add_argument(
            "--types",
            action="append",
            metavar="DIR",
            help="a folder (or file) of the shop's meter types, besides the shipped examples",
        )

    t = actions.add_parser("types", help="list the meter types")
    types_option(t)
    t.set_defaults(func=_list_types)
    i = actions.add_parser("import", help="vendor shipment CSV -> manifest(s) for boards")
    i.add_argument("file", metavar="SHIPMENT.csv")
    i.add_argument("--map", required=True, metavar="MAP.toml", help="the vendor's column map")
    i.add_argument(
        "--out", required=True, metavar="manifest.csv", help="manifest to write (never overwritten)"
    )
    i.add_argument("--positions", type=int, default=24, help="positions per board (default 24)")
    types_option(i)
    i.set_defaults(func=_import)
    c = actions.add_parser("check", help="load a manifest as a run would and list its meters")
    c.add_argument("manifest", metavar="manifest.csv")
    types_option(c)
    c.set_defaults(func=_check)
    return p
