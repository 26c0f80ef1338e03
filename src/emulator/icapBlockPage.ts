/** The HTML a blocking mode puts in place of a detected object, naming the threat as KATA's page does. */
export function blockPage(threat: string, url: string, scanId: string): Buffer {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return Buffer.from(
    `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Blocked by KATA</title></head>
<body>
<h1>Access blocked</h1>
<p>The object was blocked by Kaspersky Anti Targeted Attack Platform (KDS embedded KATA).</p>
<p>Threat: <b>${esc(threat)}</b></p>
<p>URL: ${esc(url)}</p>
<p>Scan ID: ${esc(scanId)}</p>
</body></html>
`,
    'utf8',
  );
}
