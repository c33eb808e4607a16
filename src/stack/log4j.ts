/** log4j2 configuration for the JVMs: everything to stdout, which the launcher sends to the log file. */
export function log4j2Properties(extraLevels: Record<string, string> = {}): string {
  const lines = [
    'status = warn',
    'appender.out.type = Console',
    'appender.out.name = STDOUT',
    'appender.out.layout.type = PatternLayout',
    'appender.out.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.out.ref = STDOUT',
  ];
  let i = 0;
  for (const [logger, level] of Object.entries(extraLevels)) {
    lines.push(`logger.l${i}.name = ${logger}`, `logger.l${i}.level = ${level}`);
    i++;
  }
  return `${lines.join('\n')}\n`;
}

export function renderProperties(props: Record<string, string | number | boolean>): string {
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('\n')}\n`;
}
