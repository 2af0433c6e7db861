// Inline icons: emoji depend on the system's fonts and are missing on many Linux desktops.
const common = { width: 16, height: 16, viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' } as const;

export const BellIcon = () => (
  <svg {...common} class="icon-svg">
    <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" />
    <path d="M13.7 21a2 2 0 0 1-3.4 0" />
  </svg>
);

export const PaperclipIcon = (props: { size?: number }) => (
  <svg {...common} width={props.size ?? 16} height={props.size ?? 16} class="icon-svg">
    <path d="M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5" />
  </svg>
);

export const MenuIcon = () => (
  <svg {...common} width={20} height={20} class="icon-svg">
    <path d="M3 6h18M3 12h18M3 18h18" />
  </svg>
);
