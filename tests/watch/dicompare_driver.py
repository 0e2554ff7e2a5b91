"""Runs dicompare for the agreement tests, in dicompare's own virtualenv (dicompare needs
pydicom < 3, labdeck pydicom 3, so the two never share one environment).

    python dicompare_driver.py build FOLDER          prints the schema dicompare builds
    python dicompare_driver.py bundled NAME          prints a schema dicompare ships (hcp_schema.json)
    python dicompare_driver.py check SCHEMA ACQ DIR...  prints {DIR: [failing fields]}

``check`` loads each folder as a session and checks it against the schema's acquisition
ACQ; a field fails when dicompare's status for it is "error". This file imports nothing
of labdeck.
"""

import json
import sys


def main(argv):
    import dicompare
    from dicompare import build_schema, check_acquisition_compliance, load_dicom_session, make_json_serializable

    if argv[0] == "bundled":
        from importlib import resources

        print(resources.files("dicompare").joinpath("schemas", argv[1]).read_text(encoding="utf-8"))
        return 0
    if argv[0] == "build":
        df = load_dicom_session(session_dir=argv[1], show_progress=False)
        print(json.dumps(make_json_serializable(build_schema(df))))
        return 0
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    acquisition = schema["acquisitions"][argv[2]]
    verdicts = {}
    for folder in argv[3:]:
        df = load_dicom_session(session_dir=folder, show_progress=False)
        records = check_acquisition_compliance(df, acquisition)
        verdicts[folder] = sorted(
            {r["field"] for r in records if str(getattr(r["status"], "value", r["status"])) == "error"}
        )
    print(
        json.dumps(
            {"version": dicompare.__version__ if hasattr(dicompare, "__version__") else "?", "verdicts": verdicts}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
