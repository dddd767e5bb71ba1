// Sizes in messages.

/** `bytes` for a reader: "4.00 GiB" from 1 GiB up, "12.5 MiB" from 1 MiB, "353 KiB" below. */
export function sizeText(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}
