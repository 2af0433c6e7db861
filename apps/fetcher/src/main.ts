import { runMain } from '@pushmail/bootstrap';
import { bootstrap } from './bootstrap';

runMain(() => bootstrap());
