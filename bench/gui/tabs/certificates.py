"""The Certificates tab: preview, issue and sign a run's certificates."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bench.gui.widgets import (
    big_font,
)
from bench.gui.worker import CertJob


class CertificatesTab:
    """The Certificates tab: preview, issue and sign a run's certificates.

    A mixin of MainWindow: its widgets and state are the window's.
    """

    def _cert_tab(self) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        form_box = QGroupBox("Certificate")
        fl = QFormLayout(form_box)
        self.c_run = QSpinBox()
        self.c_run.setRange(0, 10**9)
        self.c_pos = QSpinBox()
        self.c_pos.setRange(1, 48)
        self.c_approver = QLineEdit(self.settings.approver)
        self.c_identity = QLabel()
        self.c_identity.setWordWrap(True)
        self.c_pass = QLineEdit()
        self.c_pass.setEchoMode(QLineEdit.EchoMode.Password)
        fl.addRow("&Run", self.c_run)
        fl.addRow("P&osition", self.c_pos)
        fl.addRow("&Approved by", self.c_approver)
        fl.addRow("Signing identity", self.c_identity)
        fl.addRow("Pass&phrase", self.c_pass)
        for text, slot in (
            ("Pre&view draft", self.preview_certificate),
            ("&Issue and sign", self.issue_certificate),
            ("Open PDF e&xternally", self.open_pdf_externally),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            fl.addRow(b)
        self.c_msg = QLabel("Preview a draft, check it, then issue it.")
        self.c_msg.setWordWrap(True)
        self.c_msg.setFont(big_font(11, True))
        fl.addRow(self.c_msg)
        lay.addWidget(form_box, 1)
        self.c_pages = QWidget()
        self.c_pages_lay = QVBoxLayout(self.c_pages)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.c_pages)
        lay.addWidget(scroll, 2)
        self.c_pdf = ""
        self.page_images: list[str] = []
        return w

    # ================================================================ certificates
    def _cert_job(self) -> CertJob:
        return CertJob(
            self.c_run.value(),
            self.c_pos.value(),
            approver=self.c_approver.text().strip(),
            out_dir=self.settings.certificates_dir,
            identity=self.settings.signing_identity,
            passphrase=self.c_pass.text(),
            lab_file=self.settings.lab_file,
        )

    def preview_certificate(self) -> None:
        self.c_msg.setText("Rendering a draft (not issued)…")
        self.request_preview.emit(self._cert_job())

    def issue_certificate(self) -> None:
        job = self._cert_job()
        if not job.approver:
            self.c_msg.setText("Enter the approver's name: it is printed on the certificate.")
            return
        self.c_msg.setText("Issuing" + (" and signing…" if job.identity else " (unsigned)…"))
        self.request_issue.emit(job)

    def open_pdf_externally(self) -> None:
        if self.c_pdf:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.c_pdf))

    def on_preview_ready(self, job, pages: list, pdf: str) -> None:
        self.c_pdf = pdf
        self.page_images = list(pages)
        while self.c_pages_lay.count():
            item = self.c_pages_lay.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not pages:
            self.c_msg.setText(
                f"No page renderer (pdftoppm) here: the PDF is {pdf} — use Open PDF externally."
            )
        for png in pages:
            lbl = QLabel()
            lbl.setPixmap(QPixmap(png))
            lbl.setFrameShape(QLabel.Shape.Box)
            self.c_pages_lay.addWidget(lbl)
        if pages:
            self.c_msg.setText(f"{len(pages)} page(s) of {Path(pdf).name}")

    def on_issued(self, job, pdf: str) -> None:
        self.c_msg.setText(f"Issued: {pdf}")
        self.request_preview_file.emit(CertJob(job.run_id, job.position, out_dir=pdf))

    def on_cert_failed(self, job, message: str) -> None:
        self.c_msg.setText(f"Not done: {message}")
