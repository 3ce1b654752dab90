"""Build the Halvard sample corpus (PDF, DOCX, TXT, MD) from the text in this script.

The corpus describes a fictional company, Halvard Instruments, so every answer must come from
the documents and questions about anything else are truly unanswerable from them. Run with the
dev extras installed (fpdf2, python-docx):  .venv/bin/python corpora/build_halvard.py
The generated files are committed so a fresh clone needs no build step.
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).parent / "halvard"

MANUAL_PAGES = [
    ("WS-200 Weather Station - User Manual", [
        "Thank you for choosing the Halvard WS-200, a solar-assisted wireless weather station for homes, "
        "schools and small farms. The WS-200 measures temperature, humidity, wind speed, wind direction, "
        "rainfall and barometric pressure, and sends its readings to the Console C5 display.",
        "In the box you will find the sensor array, the Console C5, a mounting bracket with two U-bolts, "
        "one CR123A lithium battery, a USB-C power adapter for the console and this manual.",
        "This manual covers hardware revision B of the WS-200. Firmware updates are described in the "
        "release notes.",
    ]),
    ("Installation", [
        "Mount the sensor array at least 1.5 metres above the ground, on a mast with a diameter between "
        "25 and 50 millimetres. Keep it at least 5 metres away from walls, trees and other obstacles.",
        "The solar panel must face south in the northern hemisphere and north in the southern hemisphere. "
        "Align the arrow on top of the wind vane to true north before tightening the U-bolts.",
        "Insert the CR123A battery before mounting. The sensor array pairs with the console automatically "
        "within three minutes after the console is powered on.",
    ]),
    ("Sensors and Specifications", [
        "Temperature range: -40 to 60 degrees Celsius, accuracy plus or minus 0.3 degrees Celsius.",
        "Humidity range: 1 to 99 percent relative humidity, accuracy plus or minus 3 percent.",
        "Wind speed: 0 to 60 metres per second. Rain gauge resolution: 0.2 millimetres per tip.",
        "Radio: the sensor array transmits every 16 seconds on 868 MHz, with a range of up to 150 metres "
        "in open air. Barometric pressure is measured inside the console, not in the sensor array.",
    ]),
    ("Maintenance and Troubleshooting", [
        "Clean the rain gauge funnel every three months and remove leaves or insects from the filter.",
        "The CR123A battery lasts about two years; the solar panel extends battery life in summer.",
        "To reset the sensor array, hold the SYNC button for 10 seconds until the red LED blinks twice.",
        "Error code E42 means the anemometer cable is disconnected. Error code E17 means the console has "
        "not received data from the sensor array for more than 15 minutes.",
    ]),
]

SAFETY_PAGES = [
    ("Safety Data Sheet - Sensor Array Battery and Solar Panel", [
        "Battery type: CR123A lithium manganese dioxide, 3 volts, non-rechargeable. Do not attempt to "
        "recharge the battery. Do not expose it to temperatures above 85 degrees Celsius.",
        "Transport: lithium metal batteries contained in equipment are shipped under UN3091. Dispose of "
        "used batteries at a battery recycling point, never with household waste.",
    ]),
    ("Solar Panel and Enclosure", [
        "The solar panel is covered with tempered glass. Clean it with a soft damp cloth; never use a "
        "pressure washer or abrasive cleaners.",
        "The sensor array enclosure is rated IP65: it is dust tight and protected against water jets. "
        "The Console C5 is for indoor use only and has no ingress protection rating.",
    ]),
]

WARRANTY_TABLE = [
    ("Product", "Warranty period", "Covers"),
    ("WS-200 sensor array", "3 years", "defects in materials and workmanship"),
    ("WS-100 sensor array", "2 years", "defects in materials and workmanship"),
    ("Console C5", "2 years", "defects, including the display"),
    ("RG-1 rain gauge", "1 year", "mechanical defects"),
    ("Solar panel", "5 years", "power output above 80 percent of rating"),
]

HANDBOOK = [
    ("About Halvard", 1, [
        "Halvard Instruments was founded in 2011 in Gothenburg, Sweden, by Ingrid Halvard, a former "
        "meteorologist. Today the company has 84 employees and sells in 14 countries.",
    ]),
    ("Working hours", 1, [
        "Halvard uses flexible working time. Core hours, when everyone is expected to be available, are "
        "10:00 to 15:00 from Monday to Thursday and 10:00 to 13:00 on Fridays.",
        "Employees may work remotely up to three days per week after agreeing it with their manager.",
    ]),
    ("Travel policy", 1, [
        "Book all business travel through the travel portal at least 14 days in advance. Economy class "
        "is the rule for flights shorter than 6 hours.",
    ]),
    ("Daily allowances", 2, []),
    ("Expense claims", 1, [
        "Submit expense claims with receipts within 60 days of the expense. Claims submitted later are "
        "only reimbursed with approval from the finance director.",
    ]),
    ("Parental leave", 1, [
        "On top of the statutory benefit, Halvard pays 10 percent of salary for up to 180 days of "
        "parental leave.",
    ]),
]

PER_DIEM = [
    ("Country", "Daily allowance", "Hotel cap per night"),
    ("Sweden", "290 SEK", "1,600 SEK"),
    ("Germany", "28 EUR", "150 EUR"),
    ("United States", "45 USD", "210 USD"),
    ("Japan", "5,200 JPY", "22,000 JPY"),
]

RELEASE_NOTES = """# Console C5 and WS-200 firmware release notes

Firmware is installed with the Halvard Link app (Android and iOS). The console downloads the
update and forwards it to the sensor array over the radio link; an update takes about 12 minutes.

## 4.2.0 (2026-03-14)

- New: Bluetooth LE pairing between the Console C5 and the Halvard Link app.
- Fixed: humidity readings drifted upwards by up to 4 percent after long periods of fog.
- Changed: the default upload interval to Halvard Cloud is now 5 minutes (was 10 minutes).

## 4.1.3 (2025-11-02)

- Fixed: error E42 was shown although the anemometer was connected, when the temperature was
  below -25 degrees Celsius.
- Fixed: daylight saving time switched one week too early in the US time zones.

## 4.0.0 (2025-06-20)

- New: MQTT export of live readings to a local broker (port 1883 by default).
- New: dew point and feels-like temperature on the console home screen.
- Removed: support for the older Console C3. Owners of a C3 can stay on firmware 3.9.4.

## Upgrade notes

Always update the console before the sensor array. Do not unplug the console during an update; if
an update fails, the console restarts with the previous firmware automatically.
"""

API_GUIDE = """# Halvard Cloud API guide

The Halvard Cloud API gives programmatic access to the readings of your stations.

## Authentication

Create an API token under Account > Developer in the Halvard Cloud web app. Send it as a bearer
token in the `Authorization` header. Tokens expire after 90 days and can be revoked at any time.

## Base URL and versions

All endpoints live under `https://api.halvard.example/v2`. Version 1 of the API was switched off
on 31 January 2026.

## Endpoints

- `GET /stations` lists your stations with their serial numbers and locations.
- `GET /stations/{id}/observations?from=...&to=...` returns readings between two ISO 8601 times.
- `POST /webhooks` registers a URL that receives alerts, for example when wind speed exceeds a limit.

## Limits

Each token may send 120 requests per minute; above that the API answers HTTP 429 with a
`Retry-After` header. Observations are kept for 24 months; older readings are available as monthly
CSV archives for 5 years.

## Pagination

List endpoints return at most 500 items per page and a `next_cursor` value; pass it as the
`cursor` query parameter to fetch the next page.

## Webhook delivery

A webhook delivery that fails is retried 5 times with exponential backoff, starting after 30
seconds. Deliveries are signed with an HMAC-SHA256 signature in the `X-Halvard-Signature` header.
"""

SUPPORT_FAQ = """Halvard Instruments - Customer Support FAQ

How can I contact support?
Support is open Monday to Friday, 08:00 to 17:00 Central European Time. Call +46 31 555 0199 or
write to support@halvard.example. We answer e-mails within two working days.

How do I update the firmware?
Install the Halvard Link app, open Settings > Firmware and tap Update. Keep the phone within
10 metres of the console until the update is finished.

The console shows "--.-" instead of the outdoor temperature. What does that mean?
The console has lost the signal from the sensor array. Check the battery, move the console closer,
or press the SYNC button on the sensor array to pair again.

Can I export my data?
Yes. The console stores 30 days of readings. Export them as a CSV file from the Halvard Link app,
or use the Halvard Cloud API for longer histories.

How do I return a product?
Request an RMA number from support before you send anything back. Returns without an RMA number
are refused at our warehouse in Boras.

Does the WS-200 work without the Console C5?
No. The sensor array only talks to a Console C5, which relays data to the app and the cloud.
"""

ONBOARDING = """Onboarding checklist for new employees

Day one
- Collect your badge at the reception desk in the Gothenburg office (Fjällgatan 12).
- IT hands out your laptop and phone; set up two-factor authentication before lunch.
- Meet your onboarding buddy, who answers practical questions during your first month.

First two weeks
- Complete the information security training within 14 days of your start date.
- Read the company handbook, in particular the travel policy and the expense rules.
- Book a 30-minute introduction with the people in your team.

First three months
- Agree on your goals with your manager by the end of your first month.
- Your probation period is six months; a follow-up meeting takes place after three months.
- Visit the production site in Borås for a guided tour of the assembly line.
"""

# ---------------------------------------------------------------------------------------------


def build_pdf(path: Path, pages) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_title(pages[0][0])
    for heading, paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 15)
        pdf.multi_cell(0, 8, heading)
        pdf.ln(3)
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    pdf.set_creation_date(__import__("datetime").datetime(2026, 1, 1))
    pdf.output(str(path))


def build_warranty(path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.core_properties.created = __import__("datetime").datetime(2026, 1, 1)
    doc.add_heading("Warranty and Returns Policy", level=1)
    doc.add_paragraph(
        "This policy applies to Halvard products bought from Halvard or an authorised reseller in the "
        "European Union, Norway and Switzerland."
    )
    doc.add_heading("Warranty periods", level=2)
    doc.add_paragraph("The warranty period starts on the date of purchase shown on the receipt.")
    table = doc.add_table(rows=0, cols=3)
    for row in WARRANTY_TABLE:
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = value
    doc.add_heading("Extended warranty", level=2)
    doc.add_paragraph(
        "Halvard Care extends the warranty of a sensor array by two years for 39 EUR. It must be bought "
        "within 90 days of the original purchase."
    )
    doc.add_heading("Returns", level=2)
    doc.add_paragraph(
        "Unused products can be returned within 30 days for a refund. A restocking fee of 10 percent "
        "applies to opened products that are not defective. Every return needs an RMA number from support."
    )
    doc.add_paragraph(
        "The customer pays return shipping unless the product is defective, in which case Halvard sends a "
        "prepaid label."
    )
    doc.save(str(path))


def build_handbook(path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.core_properties.created = __import__("datetime").datetime(2026, 1, 1)
    doc.add_heading("Halvard Employee Handbook", level=0)
    for heading, level, paragraphs in HANDBOOK:
        doc.add_heading(heading, level=level)
        for paragraph in paragraphs:
            doc.add_paragraph(paragraph)
        if heading == "Daily allowances":
            doc.add_paragraph("Daily allowances (per diem) and hotel caps for business trips:")
            table = doc.add_table(rows=0, cols=3)
            for row in PER_DIEM:
                cells = table.add_row().cells
                for cell, value in zip(cells, row):
                    cell.text = value
    doc.save(str(path))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build_pdf(OUT / "ws200-user-manual.pdf", MANUAL_PAGES)
    build_pdf(OUT / "safety-data-sheet.pdf", SAFETY_PAGES)
    build_warranty(OUT / "warranty-and-returns.docx")
    build_handbook(OUT / "employee-handbook.docx")
    (OUT / "firmware-release-notes.md").write_text(RELEASE_NOTES, encoding="utf-8")
    (OUT / "cloud-api-guide.md").write_text(API_GUIDE, encoding="utf-8")
    (OUT / "support-faq.txt").write_text(SUPPORT_FAQ, encoding="utf-8")
    # Written in Windows-1252 on purpose, so the demo exercises encoding detection.
    (OUT / "onboarding-checklist.txt").write_bytes(ONBOARDING.encode("cp1252"))
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")


if __name__ == "__main__":
    main()
